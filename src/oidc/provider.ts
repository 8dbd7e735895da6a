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
      logger.warn({ issuer: config.issuer, err: describe(err), retryInMs: delay }, 'provider discovery failed')
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
