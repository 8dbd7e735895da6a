import * as client from 'openid-client'
import type { ProviderConfig } from '../config/types.js'
import { gatewayError } from '../errors.js'
import type { Logger } from '../observability/logger.js'

/**
 * The identity provider as the rest of the gateway sees it: discovery (retried in the background
 * until it succeeds), and the facts the sign-in and refresh code need from the metadata.
 */
export interface Provider {
  /** True once discovery succeeded. */
  isReady (): boolean
  /** The discovered client configuration; rejects with PCS_PROVIDER_UNAVAILABLE until discovery succeeded. */
  configuration (): Promise<client.Configuration>
  /** Whether the provider lists `offline_access` in `scopes_supported`. */
  supportsOfflineAccessScope (): boolean
  /** Whether discovery named a revocation endpoint. */
  supportsRevocation (): boolean
  /** The `end_session_endpoint` discovery named (RP-Initiated Logout 1.0), or null. */
  endSessionEndpoint (): string | null
  /** Stops retrying discovery. */
  close (): void
}

export interface ProviderOptions {
  readonly config: ProviderConfig
  readonly logger: Logger
  /** First retry delay; doubles up to maxRetryDelayMs. */
  readonly retryDelayMs?: number
  readonly maxRetryDelayMs?: number
  /** Called after each discovery attempt with its result and duration (metrics). */
  readonly onDiscovery?: (ok: boolean, durationMs: number) => void
}

/**
 * Starts discovery at once and keeps retrying with capped exponential backoff, so a gateway that
 * starts while the provider is unreachable comes up (not ready) and becomes ready by itself.
 */
export function createProvider (options: ProviderOptions): Provider {
  const { config, logger } = options
  const maxDelay = options.maxRetryDelayMs ?? 30_000
  let delay = options.retryDelayMs ?? 500
  let current: client.Configuration | null = null
  let closed = false
  let timer: NodeJS.Timeout | null = null
  let lastError: unknown = null
  let inFlight: Promise<void> | null = null

  const discoveryOptions: client.DiscoveryRequestOptions = {
    timeout: Math.max(1, Math.ceil(config.timeoutMs / 1000)),
    execute: config.allowInsecureIssuer ? [client.allowInsecureRequests] : []
  }

  async function discover (): Promise<void> {
    const started = performance.now()
    try {
      current = await client.discovery(
        new URL(config.issuer), config.clientId, { client_secret: config.clientSecret },
        client.ClientSecretPost(config.clientSecret), discoveryOptions)
      options.onDiscovery?.(true, performance.now() - started)
      logger.info({ issuer: config.issuer }, 'provider discovery succeeded')
    } catch (err) {
      lastError = err
      options.onDiscovery?.(false, performance.now() - started)
      logger.warn({ issuer: config.issuer, reason: discoveryFailureReason(err, config.issuer, config.timeoutMs), err: describe(err), retryInMs: delay }, 'provider discovery failed')
      if (!closed) {
        timer = setTimeout(attempt, delay)
        timer.unref()
        delay = Math.min(delay * 2, maxDelay)
      }
    }
  }

  function attempt (): void {
    timer = null
    inFlight = discover().finally(() => { inFlight = null })
  }

  attempt()

  return {
    isReady: () => current !== null,
    async configuration () {
      if (current === null && inFlight !== null) await inFlight
      if (current === null) {
        throw gatewayError('PCS_PROVIDER_UNAVAILABLE', { cause: lastError })
      }
      return current
    },
    supportsOfflineAccessScope () {
      const scopes = current?.serverMetadata().scopes_supported
      return Array.isArray(scopes) && scopes.includes('offline_access')
    },
    supportsRevocation () {
      return typeof current?.serverMetadata().revocation_endpoint === 'string'
    },
    endSessionEndpoint () {
      const endpoint = current?.serverMetadata().end_session_endpoint
      return typeof endpoint === 'string' ? endpoint : null
    },
    close () {
      closed = true
      if (timer !== null) clearTimeout(timer)
    }
  }
}

/** A log-safe one-line description of a provider error (no response bodies, no tokens). */
export function describe (err: unknown): { name: string, code?: string, message: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { name: err.name, ...(typeof code === 'string' ? { code } : {}), message: err.message }
  }
  return { name: 'Unknown', message: String(err) }
}

const dnsCodes = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL'])
const timeoutCodes = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])
const tlsCode = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/

/**
 * Why discovery failed, in an operator's words: fetch reports every network failure as
 * `fetch failed` and keeps the reason in `cause` (undici's and the resolver's codes), and
 * openid-client keeps an unexpected HTTP answer as the cause's Response. Both chains are walked.
 */
export function discoveryFailureReason (err: unknown, issuer: string, timeoutMs: number): string {
  let host = issuer
  try {
    host = new URL(issuer).host
  } catch {}
  let node: unknown = err
  for (let depth = 0; depth < 6 && node !== null && node !== undefined; depth++) {
    if (node instanceof Response) return `the provider answered HTTP ${node.status} for ${node.url === '' ? 'its discovery document' : node.url}`
    const { code, name, message } = node as { code?: unknown, name?: unknown, message?: unknown }
    if (typeof code === 'string') {
      if (dnsCodes.has(code)) return `the provider's host name ${host.replace(/:\d+$/, '')} cannot be resolved (DNS ${code})`
      if (code === 'ECONNREFUSED') return `the connection to ${host} was refused (nothing listens there)`
      if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return `the connection to ${host} was closed before an answer (${code})`
      if (timeoutCodes.has(code)) return `no answer from ${host} within ${timeoutMs} ms (${code})`
      if (tlsCode.test(code)) return `the TLS connection to ${host} failed: ${code}${typeof message === 'string' ? ` (${message})` : ''}`
    }
    if (name === 'TimeoutError' || name === 'AbortError') return `no answer from ${host} within ${timeoutMs} ms`
    node = (node as { cause?: unknown }).cause
  }
  const { message } = (err ?? {}) as { message?: unknown }
  return typeof message === 'string' ? message : String(err)
}
