/*
 * DEMO ONLY: the demo app as a process of its own, the `upstream` service of docker/compose*.yaml.
 * Listens on 0.0.0.0:$PORT (default 8080) so the gateway containers can reach it by service name;
 * in compose it is never published to the host, so only the gateway can talk to it.
 */
import { startDemoApp } from './upstream.js'

const port = Number(process.env.PORT ?? 8080)

async function main (): Promise<void> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got "${process.env.PORT}"`)
  const app = await startDemoApp({ host: process.env.HOST ?? '0.0.0.0', port })
  process.stdout.write(`demo app listening on ${app.url}\n`)
  // PID 1 in a container: without these handlers SIGTERM would be ignored until the kill timeout.
  const stop = (): void => { void app.close().then(() => process.exit(0)) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err: unknown) => {
  process.stderr.write(`demo app failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
