/**
 * Runs a real nginx (/usr/sbin/nginx) for a test: a temporary prefix with its own nginx.conf that
 * includes the given `server { ... }` block, in the foreground (`daemon off`), on loopback. The
 * process is stopped by its PID (SIGTERM, then SIGKILL after 5 s) and the prefix removed.
 */
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const NGINX = '/usr/sbin/nginx'

export interface Nginx {
  readonly port: number
  /** The error log so far (for failure messages). */
  errorLog (): string
  stop (): Promise<void>
}

/**
 * Waits until this nginx accepts connections on `port`. nginx writes its pid file only once its
 * listening sockets are bound, so a connection accepted before that may be another process's.
 */
async function waitForPort (port: number, alive: () => boolean, pidFile: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (!alive()) throw new Error('nginx exited')
    const ok = existsSync(pidFile) && await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    await sleep(100)
  }
  throw new Error(`nginx did not listen on ${port} within 10 s`)
}

/**
 * True when nginx could not start because its port was taken (its error log names the failed
 * bind): the caller picked the port (helpers/listen.ts `pickedPort`) and may try a new one.
 */
export function nginxPortTaken (err: unknown): boolean {
  return /bind\(\) to \S+ failed \(98: Address already in use\)/.test(String((err as Error | null)?.message))
}

/**
 * Starts nginx with `serverBlock` (which must listen on 127.0.0.1:`port`) and waits until it
 * accepts connections. nginx needs its port in its config: pick one and start over on a new one
 * when `nginxPortTaken` recognises the failure (`onPickedPort(..., nginxPortTaken)`).
 */
export async function startNginx (serverBlock: string, port: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-nginx-'))
  chmodSync(dir, 0o755)
  writeFileSync(join(dir, 'server.conf'), serverBlock)
  writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/server.conf;
}
`)
  const nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  nginx.stderr.on('data', (d) => { stderr += d })
  nginx.on('error', (err) => { stderr += String(err) })
  const exited = new Promise((resolve) => nginx.on('exit', resolve))
  const readLog = (): string => {
    try { return stderr + readFileSync(join(dir, 'error.log'), 'utf8') } catch { return stderr }
  }
  async function stop (): Promise<void> {
    if (nginx.exitCode === null && nginx.pid !== undefined) process.kill(nginx.pid, 'SIGTERM')
    await Promise.race([exited, sleep(5000, undefined, { ref: false })])
    if (nginx.exitCode === null && nginx.pid !== undefined) process.kill(nginx.pid, 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForPort(port, () => nginx.exitCode === null && nginx.pid !== undefined, join(dir, 'nginx.pid'))
  } catch (err) {
    const log = readLog()
    await stop()
    throw new Error(`${(err as Error).message}: ${log}`)
  }
  return { port, errorLog: readLog, stop }
}
