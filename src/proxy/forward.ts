import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { Agent, type Dispatcher } from 'undici'
import { connectionListed, hopByHop } from './hop-by-hop.js'

/*
 * Sends one request upstream and streams the answer back, straight from undici's dispatch
 * callbacks to the client's socket: no intermediate stream, no copy of the headers onto the
 * framework's reply. This is the whole cost of a proxied request beyond the gate, so it is kept
 * to what the protocol needs (docs/scaling.md has the measurements that led here).
 */

type Headers = Record<string, string | string[] | undefined>

/** Whether a request carries a body to stream upstream. */
export function hasBody (req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/** What the upstream answered, before anything of it was sent to the client. */
export interface UpstreamAnswer {
  readonly statusCode: number
  readonly headers: Readonly<IncomingHttpHeaders>
  /** Sends the answer to the client as it is (status, headers, then the body as it arrives). */
  pass (): void
  /** Drops the answer: its body is never read, the upstream connection is closed. */
  discard (): void
}

export interface ExchangeEvents {
  /**
   * Called with the upstream's status and headers; returns true to send them on at once, false
   * to hold the answer (the body is not read) until `answer.pass()` or `answer.discard()`.
   */
  onAnswer (answer: UpstreamAnswer): boolean
  /** The upstream failed before any of its answer was sent (refused, reset, timed out). */
  onFailure (err: Error & { code?: string }): void
  /** Headers the gateway adds to the answer (request id, cookies); they win over the upstream's. */
  ownHeaders (): Record<string, string | number | string[] | undefined>
  /** Hands the response over before the first byte is written (the framework stops touching it). */
  takeOver (): void
}

/**
 * One request's exchange with the upstream: undici calls it with each event of the response and
 * it writes to `res`. Backpressure is passed both ways (a slow client pauses the upstream), and a
 * client that goes away aborts the upstream request.
 */
class Exchange implements Dispatcher.DispatchHandler, UpstreamAnswer {
  statusCode = 0
  headers: IncomingHttpHeaders = {}
  private controller: Dispatcher.DispatchController | null = null
  private started = false
  private held = false
  /** What happened to a held answer before it was passed on: it ended, or failed. */
  private heldEnd = false
  private heldError: (Error & { code?: string }) | null = null
  private discarded = false
  private readonly res: ServerResponse
  private readonly events: ExchangeEvents
  private readonly onClose = (): void => {
    if (!this.res.writableFinished) this.controller?.abort(new Error('client closed the connection'))
  }

  private readonly onDrain = (): void => { this.controller?.resume() }

  private readonly ownCookie: (name: string) => boolean

  constructor (res: ServerResponse, events: ExchangeEvents, ownCookie: (name: string) => boolean) {
    this.res = res
    this.events = events
    this.ownCookie = ownCookie
    res.once('close', this.onClose)
  }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.res.destroyed) controller.abort(new Error('client closed the connection'))
  }

  onResponseStart (controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // Informational answers (100 Continue, 103 Early Hints) are not forwarded.
    if (statusCode < 200) return
    this.statusCode = statusCode
    this.headers = headers
    // Held until onAnswer decides; it may pass or discard at once, before returning.
    this.held = true
    if (this.events.onAnswer(this)) {
      this.held = false
      this.start()
      return
    }
    if (this.held) controller.pause()
  }

  pass (): void {
    if (this.started || !this.held) return
    this.held = false
    if (this.heldError !== null) {
      this.events.onFailure(this.heldError)
      return
    }
    this.start()
    if (!this.started) return
    if (this.heldEnd) this.res.end()
    else if (this.controller?.paused === true) this.controller.resume()
  }

  discard (): void {
    this.held = false
    this.discarded = true
    this.res.removeListener('close', this.onClose)
    this.controller?.abort(new Error('upstream answer discarded'))
  }

  /** Writes the status and headers: the upstream's without hop-by-hop ones, then the gateway's own. */
  private start (): void {
    this.started = true
    const out: Record<string, string | number | string[]> = {}
    const upstream = this.headers
    const listed = connectionListed(upstream.connection)
    for (const name in upstream) {
      const value = upstream[name]
      if (value === undefined || hopByHop.has(name) || (listed !== null && listed.includes(name))) continue
      if (name === 'set-cookie') {
        // The gateway's own cookies are the gateway's: an upstream cannot set or clear them.
        const kept = foreignCookies(value, this.ownCookie)
        if (kept.length > 0) out[name] = kept
        continue
      }
      out[name] = value
    }
    const own = this.events.ownHeaders()
    for (const name in own) {
      const value = own[name]
      if (value === undefined) continue
      if (name === 'set-cookie' && out[name] !== undefined) out[name] = ([] as string[]).concat(out[name] as string | string[], value as string | string[])
      else out[name] = value
    }
    try {
      this.res.writeHead(this.statusCode, out)
    } catch (err) {
      // A header Node refuses to write that the upstream's parser let through. Nothing was
      // sent yet: drop the answer and fail as an unreachable upstream would.
      this.started = false
      this.discarded = true
      this.res.removeListener('close', this.onClose)
      this.controller?.abort(err as Error)
      this.events.onFailure(Object.assign(new Error('the upstream sent a header that cannot be forwarded'), { code: 'UPSTREAM_INVALID_HEADER', cause: err }))
      return
    }
    this.events.takeOver()
  }

  onResponseData (controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.started) return
    if (!this.res.write(chunk)) {
      controller.pause()
      this.res.once('drain', this.onDrain)
    }
  }

  onResponseEnd (): void {
    this.res.removeListener('close', this.onClose)
    if (this.started) this.res.end()
    else if (this.held) this.heldEnd = true
  }

  onResponseError (_controller: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    this.res.removeListener('close', this.onClose)
    if (this.discarded) return
    if (this.held) {
      this.heldError = err
      return
    }
    // Part of the answer is out: the client sees a cut response, as the upstream's own would be.
    if (this.started) {
      this.res.destroy()
      return
    }
    if (!this.res.destroyed) this.events.onFailure(err)
  }
}

/** The upstream's `Set-Cookie` values without those naming one of the gateway's cookies. */
export function foreignCookies (value: string | string[], ownCookie: (name: string) => boolean): string[] {
  const kept: string[] = []
  for (const line of typeof value === 'string' ? [value] : value) {
    const eq = line.indexOf('=')
    // A line without `=` sets no cookie a browser would keep under any name of ours; it goes as is.
    const name = (eq === -1 ? '' : line.slice(0, eq)).trim()
    if (name === '' || !ownCookie(name)) kept.push(line)
  }
  return kept
}

export interface ForwarderOptions {
  readonly connectTimeoutMs: number
  readonly headersTimeoutMs: number
  /** Whether a cookie name is one of the gateway's (an upstream's `Set-Cookie` for it is dropped). */
  readonly ownCookie: (name: string) => boolean
}

export interface Forwarder {
  /** Sends `req` to `origin` + `path` with `headers` (rewritten, without hop-by-hop headers: see identity-headers.ts). */
  forward (req: IncomingMessage, res: ServerResponse, origin: string, path: string, headers: Headers, events: ExchangeEvents): void
  close (): Promise<void>
}

/** The upstream connection pools (one per origin, kept alive) and the function that uses them. */
export function createForwarder (options: ForwarderOptions): Forwarder {
  const agent = new Agent({
    connections: 128,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    connectTimeout: options.connectTimeoutMs,
    headersTimeout: options.headersTimeoutMs,
    // A streamed download may pause for as long as the upstream likes.
    bodyTimeout: 0
  })
  return {
    forward (req, res, origin, path, headers, events) {
      const body = hasBody(req) ? req : null
      agent.dispatch({ origin, path, method: req.method as Dispatcher.HttpMethod, headers: headers as IncomingHttpHeaders, body }, new Exchange(res, events, options.ownCookie))
    },
    close: () => agent.close()
  }
}
