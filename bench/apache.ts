import { spawn, spawnSync } from 'node:child_process'
import { accessSync, chmodSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { executable, treeCpu, treeRss, type Proc } from './targets.js'

/*
 * The authenticating peer: Apache httpd with mod_auth_openidc, both from the distribution's
 * packages, run as a process of our own (never the system service) from a temporary ServerRoot
 * holding a minimal httpd.conf. It signs in against the same development provider as the gateway,
 * keeps its sessions server-side in the bench's redis-server, and proxies to the same upstream.
 */

const HTTPD_CANDIDATES = ['/usr/sbin/apache2', '/usr/sbin/httpd']
const MODULE_DIRS = ['/usr/lib/apache2/modules', '/usr/lib64/httpd/modules', '/usr/lib/httpd/modules']

/** The module's session cookie (its default name). */
export const APACHE_SESSION_COOKIE = 'mod_auth_openidc_session'
/**
 * The module's redirect URI path. It matches the gateway's callback path so the shared headless
 * sign-in walk (which stops at `<origin>/oauth2/callback`) drives both alike.
 */
export const APACHE_CALLBACK_PATH = '/oauth2/callback'
/** The claim header the module sets from the id token's `email` (prefix `OIDC_CLAIM_`). */
export const APACHE_EMAIL_HEADER = 'oidc_claim_email'

/** How the peer is set up, for the report's notes (one bullet). */
export const APACHE_NOTE = 'Apache httpd with mod_auth_openidc (the authenticating peer) runs from a temporary ServerRoot ' +
  'with a minimal httpd.conf written by the bench: the event MPM with one child process of 64 threads ' +
  '(its threads may use both cores), keep-alive on, the access log written to /dev/null; ' +
  'mod_auth_openidc signs in at the same development provider (authorization code with PKCE, ' +
  'client_secret_post, scopes openid email profile), keeps its sessions server-side in the same ' +
  'redis-server, encrypted as the module does by default (OIDCSessionType server-cache, ' +
  'OIDCCacheType redis), passes the id token claims to ' +
  'the upstream as OIDC_CLAIM_* headers, and proxies with mod_proxy_http (backend keep-alive) to the ' +
  'same upstream. One real sign-in through it gives the session cookie the load sends; before the ' +
  'runs the bench checks that the upstream receives the signed-in email. Its row counts the Redis ' +
  'commands it sends and the RSS of the httpd parent and child processes.'

export interface ApacheInstall {
  readonly httpd: string
  readonly moduleDir: string
}

const readable = (path: string): boolean => {
  try { accessSync(path, constants.R_OK); return true } catch { return false }
}

/** Finds Apache httpd and mod_auth_openidc; `note` says what is missing when either is. */
export function apacheAvailable (): { install: ApacheInstall | null, note: string } {
  const httpd = HTTPD_CANDIDATES.find(executable)
  const moduleDir = MODULE_DIRS.find((d) => readable(join(d, 'mod_auth_openidc.so')))
  if (httpd === undefined) return { install: null, note: 'Apache httpd is not installed (Debian: apt-get install apache2 libapache2-mod-auth-openidc)' }
  if (moduleDir === undefined) return { install: null, note: 'mod_auth_openidc is not installed (Debian: apt-get install libapache2-mod-auth-openidc)' }
  return { install: { httpd, moduleDir }, note: `${httpd} with ${join(moduleDir, 'mod_auth_openidc.so')}` }
}

/** The versions of Apache httpd and mod_auth_openidc, for the report. */
export function apacheVersions (): string {
  const { install } = apacheAvailable()
  if (install === null) return 'Apache httpd with mod_auth_openidc not installed'
  const out = spawnSync(install.httpd, ['-v'], { encoding: 'utf8' }).stdout ?? ''
  const httpd = /Apache\/([\d.]+)/.exec(out)?.[1] ?? 'unknown'
  const pkg = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libapache2-mod-auth-openidc'], { encoding: 'utf8' })
  const module = pkg.status === 0 && pkg.stdout !== '' ? pkg.stdout : 'unknown'
  return `Apache httpd ${httpd} with mod_auth_openidc ${module}`
}

export interface ApacheOptions {
  readonly install: ApacheInstall
  readonly port: number
  /** The development provider's issuer (plain http on loopback). */
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: string
  readonly upstream: string
  /** `redis://host:port/db` of the cache the module keeps its sessions in. */
  readonly redisUrl: string
}

/** A running peer: the `Proc` the bench measures, plus its error log for failure messages. */
export interface ApacheProc extends Proc {
  /** The temporary ServerRoot (removed by `stop()`). */
  readonly root: string
  errorLog (): string
}

/** The redirect URI to register at the provider for a peer on `port`. */
export function apacheRedirectUri (port: number): string {
  return `http://127.0.0.1:${port}${APACHE_CALLBACK_PATH}`
}

/*
 * One child process of the event MPM with enough threads for the bench's connections, like one
 * gateway process or nginx's one worker (the threads may still use every core). Sessions live in
 * Redis (server-cache), the browser holds only the session id; claims reach the upstream as
 * OIDC_CLAIM_* headers. The access log is written to /dev/null as the other targets' are.
 */
function httpdConf (dir: string, options: ApacheOptions): string {
  const mod = (name: string, file: string): string => `LoadModule ${name}_module ${join(options.install.moduleDir, file)}`
  const redis = new URL(options.redisUrl)
  const database = Number(redis.pathname.slice(1) || '0')
  // As root, httpd's children must switch to an unprivileged user; otherwise they stay as we are.
  const root = process.getuid?.() === 0
  const user = root ? 'nobody' : userInfo().username
  const group = root ? (spawnSync('getent', ['group', 'nogroup']).status === 0 ? 'nogroup' : 'nobody') : `#${process.getgid?.() ?? 0}`
  const upstream = options.upstream.replace(/\/$/, '')
  return `ServerRoot ${dir}
ServerName 127.0.0.1
Listen 127.0.0.1:${options.port}
PidFile ${dir}/httpd.pid
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
ErrorLog ${dir}/error.log
LogLevel warn
User ${user}
Group ${group}
${mod('mpm_event', 'mod_mpm_event.so')}
${mod('authn_core', 'mod_authn_core.so')}
${mod('authz_core', 'mod_authz_core.so')}
${mod('authz_user', 'mod_authz_user.so')}
${mod('proxy', 'mod_proxy.so')}
${mod('proxy_http', 'mod_proxy_http.so')}
${mod('auth_openidc', 'mod_auth_openidc.so')}
StartServers 1
ServerLimit 1
ThreadsPerChild 64
ThreadLimit 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
MaxConnectionsPerChild 0
KeepAlive On
KeepAliveTimeout 60
MaxKeepAliveRequests 0
LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
CustomLog /dev/null common

OIDCProviderMetadataURL ${options.issuer}/.well-known/openid-configuration
OIDCSSLValidateServer Off
OIDCClientID ${options.clientId}
OIDCClientSecret ${options.clientSecret}
OIDCProviderTokenEndpointAuth client_secret_post
OIDCPKCEMethod S256
OIDCScope "openid email profile"
OIDCRedirectURI ${apacheRedirectUri(options.port)}
OIDCCryptoPassphrase bench-apache-passphrase-0123456789abcdef
OIDCCacheType redis
OIDCRedisCacheServer ${redis.hostname}:${redis.port}
OIDCRedisCacheDatabase ${database}
OIDCSessionType server-cache
OIDCPassClaimsAs headers
OIDCRemoteUserClaim email

ProxyPass ${APACHE_CALLBACK_PATH} !
ProxyPass / ${upstream}/ keepalive=On
<Location />
  AuthType openid-connect
  Require valid-user
</Location>
`
}

/**
 * True when httpd could not start because its port was taken (its log names the failed bind): a
 * caller that picked the port may start over on a new one.
 */
export function apachePortTaken (err: unknown): boolean {
  return /Address already in use: AH00072/.test(String((err as Error | null)?.message))
}

/** httpd writes its pid file once its listeners are bound: a connection accepted before may be another process's. */
async function waitForPort (port: number, alive: () => boolean, log: () => string, pidFile: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (!alive()) throw new Error(`Apache httpd exited: ${log()}`)
    const ok = existsSync(pidFile) && await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`Apache httpd did not listen on ${port} within 30 s: ${log()}`)
}

/**
 * Starts httpd in the foreground from a temporary ServerRoot and resolves once it accepts
 * connections. `stop()` ends it by its PID (SIGTERM, which also stops its children, then SIGKILL)
 * and removes the ServerRoot.
 */
export async function startApache (options: ApacheOptions): Promise<ApacheProc> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-apache-'))
  // The children run as an unprivileged user when started as root; they only read from here.
  chmodSync(dir, 0o755)
  const conf = join(dir, 'httpd.conf')
  writeFileSync(conf, httpdConf(dir, options))
  const child = spawn(options.install.httpd, ['-d', dir, '-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LANG: 'C' } })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  child.on('error', (err) => { stderr += String(err) })
  const errorLog = (): string => {
    let log = ''
    try { log = readFileSync(join(dir, 'error.log'), 'utf8').slice(-4000) } catch { /* not yet written */ }
    return `${stderr}${log}`
  }
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null
  const stop = async (): Promise<void> => {
    const pid = child.pid
    if (pid !== undefined && !exited()) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      const wait = (ms: number): Promise<void> => Promise.race([gone, new Promise<void>((resolve) => setTimeout(resolve, ms).unref())])
      process.kill(pid, 'SIGTERM')
      await wait(15_000)
      if (!exited()) {
        process.kill(pid, 'SIGKILL')
        await wait(5000)
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForPort(options.port, () => !exited() && child.pid !== undefined, errorLog, join(dir, 'httpd.pid'))
  } catch (err) {
    await stop()
    throw err
  }
  return {
    name: 'apache mod_auth_openidc',
    url: `http://127.0.0.1:${options.port}`,
    pid: child.pid!,
    rss: () => treeRss(child.pid!),
    cpu: () => treeCpu(child.pid!),
    stop,
    root: dir,
    errorLog
  }
}
