/*
 * DEMO ONLY: `npm run demo`. Starts, in this one process, a development OpenID provider that
 * behaves like Google, a small app that shows the identity headers it receives, and the gateway
 * in front of it with the in-memory session store. Nothing here is used by `portcullis serve`.
 */
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { buildGateway } from '../src/app.js'
import { ConfigError, loadConfigFile } from '../src/config/load.js'
import { printConfigError } from '../src/main.js'
import { DEMO_ACCOUNTS, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_WORKSPACE_GROUPS } from './accounts.js'
import { startDevProvider } from './provider.js'
import { startDemoApp } from './upstream.js'

const port = Number(process.env.DEMO_PORT ?? 4180)
const providerPort = Number(process.env.DEMO_PROVIDER_PORT ?? port + 11)
const appPort = Number(process.env.DEMO_APP_PORT ?? port + 12)
const publicUrl = `http://127.0.0.1:${port}`
const configFile = fileURLToPath(new URL('../../config/demo.yaml', import.meta.url))

async function main (): Promise<void> {
  const provider = await startDevProvider({
    port: providerPort,
    clients: [{ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, redirect_uris: [`${publicUrl}/oauth2/callback`] }],
    accessTokenTtlSeconds: 120
  })
  const app = await startDemoApp({ host: '127.0.0.1', port: appPort })
  const env = {
    ...process.env,
    DEMO_PORT: String(port),
    DEMO_ISSUER: provider.issuer,
    DEMO_CLIENT_SECRET,
    DEMO_COOKIE_SECRET: randomBytes(32).toString('base64url'),
    DEMO_UPSTREAM: app.url.replace(/\/$/, '')
  }
  let config
  try {
    config = loadConfigFile(configFile, env)
  } catch (err) {
    if (err instanceof ConfigError) printConfigError(err, configFile, (s) => process.stderr.write(s))
    throw err
  }
  const gateway = await buildGateway(config)
  await gateway.listen()

  const workspaceGroups = (email: string): string[] => Object.entries(DEMO_WORKSPACE_GROUPS).filter(([, members]) => members.includes(email)).map(([group]) => group)
  const accounts = DEMO_ACCOUNTS.map((a) => `    ${a.email.padEnd(22)} direct groups: ${workspaceGroups(a.email).join(', ') || '(none)'}`).join('\n')
  // An ID token as a machine caller would bring it (gcloud auth print-identity-token --audiences=...).
  const idToken = await provider.mintIdToken('dev-alice', DEMO_CLIENT_ID)
  process.stdout.write(`
  ==============================================================
   Portcullis DEMO (development provider, in-memory sessions)
  ==============================================================
   Open:            ${publicUrl}/
   Admin-only page: ${publicUrl}/admin/   (group admins@example.com)
   Staff page:      ${publicUrl}/staff/   (group staff@example.com; admins@example.com is a member)
   Public page:     ${publicUrl}/public/  (no sign-in)
   API route:       ${publicUrl}/api/whoami  (401 JSON when signed out)

   Sign in with any of these accounts (no password, pick one):
${accounts}
   alice and bob are allowed (example.com); mallory is refused with 403. Groups come from the
   provider's copy of Google's Cloud Identity API (provider.groups in config/demo.yaml).

   A machine caller with an ID token (valid for an hour), no cookie:
     curl -H 'Authorization: Bearer ${idToken}' ${publicUrl}/api/whoami
   Access tokens last 2 minutes here, so you can watch refreshes in the log.

   Press Ctrl+C to stop.
`)

  const stop = (): void => {
    void Promise.allSettled([gateway.close(), app.close(), provider.close()]).then(() => process.exit(0))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

/** The variable that moves the server whose port is taken (DEMO_PORT moves all three by default). */
function portVariable (port: number): string {
  if (port === providerPort) return process.env.DEMO_PROVIDER_PORT === undefined ? 'DEMO_PORT (or DEMO_PROVIDER_PORT)' : 'DEMO_PROVIDER_PORT'
  if (port === appPort) return process.env.DEMO_APP_PORT === undefined ? 'DEMO_PORT (or DEMO_APP_PORT)' : 'DEMO_APP_PORT'
  return 'DEMO_PORT'
}

main().catch((err: unknown) => {
  const { code, port } = err as { code?: unknown, port?: unknown }
  if (code === 'EADDRINUSE' && typeof port === 'number') {
    process.stderr.write(`demo failed to start: port ${port} is already in use. Set ${portVariable(port)} to a free port, e.g. DEMO_PORT=${port === 4180 ? 5180 : port + 1000} npm run demo\n`)
  } else {
    process.stderr.write(`demo failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  }
  process.exit(1)
})
