/**
 * The gateway's own HTML pages: one layout (`pages/layout.ts`) and the wording of every page
 * (`pages/views.ts`). Every interpolated value is escaped; pages load no scripts and no external
 * assets and are served with a strict Content-Security-Policy (see `respond.ts`).
 */
export { escapeHtml, createPageRenderer, type PageRenderer, type PageView, type PageAction } from './pages/layout.js'
export {
  chooseAccountView, endingProviderSessionView, errorView, signedOutView, signInView, signOutView, type ViewContext
} from './pages/views.js'
import { forbiddenView } from './pages/views.js'
import type { PageView } from './pages/layout.js'

/** The 403 page (see `forbiddenView`); kept under this name for the proxy gate and forward-auth. */
export function forbiddenPage (email: string, signOutAction: string, link = false): PageView {
  return forbiddenView(email, signOutAction, link)
}
