import type { Config } from '../../config/types.js'
import { createPageRenderer, type PageRenderer } from './layout.js'

/** The page renderer for a gateway: its brand, and the provider named the way people know it. */
export function createPagesFor (config: Config): PageRenderer {
  return createPageRenderer(config.pages.brand, providerName(config))
}

function providerName (config: Config): string {
  if (config.provider.type === 'google') return 'Google'
  try {
    return new URL(config.provider.issuer).hostname
  } catch {
    return 'your identity provider'
  }
}
