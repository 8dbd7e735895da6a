import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'
import type { Metrics } from './metrics.js'

/*
 * Metrics with `server.workers` > 1. Each worker counts in its own registry; a scrape must see
 * the sum over all of them, not whichever worker the shared listener handed the scrape to. The
 * primary owns the aggregation: it asks every worker that has said it is ready for its registry
 * over the cluster IPC channel and sums them. A worker that receives `/metrics` on the main
 * listener asks the primary for that sum; with `metrics.listen` set, the primary serves it on
 * that address itself and the workers do not listen there.
 *
 * Only workers that announced themselves are asked, so a worker still starting (after a crash)
 * never makes a scrape wait; one that does not answer in time is left out of that scrape.
 */

type Message =
  | { type: 'portcullis:metrics-ready' }
  | { type: 'portcullis:metrics-collect', id: number }
  | { type: 'portcullis:metrics-collected', id: number, metrics: unknown[] }
  | { type: 'portcullis:metrics-render', id: number }
  | { type: 'portcullis:metrics-rendered', id: number, contentType?: string, body?: string, error?: string }

const COLLECT_TIMEOUT_MS = 2000
const RENDER_TIMEOUT_MS = 5000

function isMessage (value: unknown): value is Message {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string' &&
    (value as { type: string }).type.startsWith('portcullis:metrics-')
}

/** True in a worker of a `server.workers` > 1 gateway: metrics are answered by the primary. */
export function inWorkerCluster (workers: number): boolean {
  return workers > 1 && cluster.isWorker
}

/**
 * In a worker: answers the primary's collection requests with `registry`, announces itself, and
 * returns a `render` that answers with the sum over all workers (fetched from the primary).
 */
export function workerMetrics (registry: Registry): Pick<Metrics, 'render'> {
  let next = 0
  const pending = new Map<number, (message: Extract<Message, { type: 'portcullis:metrics-rendered' }>) => void>()
  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return
    if (message.type === 'portcullis:metrics-collect') {
      const id = message.id
      registry.getMetricsAsJSON().then(
        (metrics) => process.send?.({ type: 'portcullis:metrics-collected', id, metrics }),
        () => process.send?.({ type: 'portcullis:metrics-collected', id, metrics: [] })
      )
    } else if (message.type === 'portcullis:metrics-rendered') {
      pending.get(message.id)?.(message)
      pending.delete(message.id)
    }
  })
  process.send?.({ type: 'portcullis:metrics-ready' })
  return {
    render () {
      return new Promise((resolve, reject) => {
        const id = next++
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error('the primary did not answer with the metrics in time'))
        }, RENDER_TIMEOUT_MS)
        timer.unref()
        pending.set(id, (response) => {
          clearTimeout(timer)
          if (response.error !== undefined || response.body === undefined) reject(new Error(response.error ?? 'no metrics'))
          else resolve({ contentType: response.contentType ?? 'text/plain; version=0.0.4; charset=utf-8', body: response.body })
        })
        process.send?.({ type: 'portcullis:metrics-render', id })
      })
    }
  }
}

/**
 * In the primary: collects and sums the ready workers' registries, answers the workers' render
 * requests with that sum, and returns a `render` for the primary's own `metrics.listen` server.
 */
export function primaryMetrics (): Pick<Metrics, 'render'> {
  const ready = new Set<Worker>()
  const collecting = new Map<number, { readonly results: unknown[][], waiting: Set<Worker>, readonly done: () => void }>()
  let next = 0

  async function render (): Promise<{ contentType: string, body: string }> {
    const id = next++
    const results: unknown[][] = []
    const workers = [...ready].filter((w) => w.isConnected())
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, COLLECT_TIMEOUT_MS)
      function finish (): void {
        clearTimeout(timer)
        collecting.delete(id)
        resolve()
      }
      const entry = { results, waiting: new Set(workers), done: finish }
      collecting.set(id, entry)
      if (workers.length === 0) return finish()
      for (const worker of workers) worker.send({ type: 'portcullis:metrics-collect', id })
    })
    const registry = AggregatorRegistry.aggregate(results as Parameters<typeof AggregatorRegistry.aggregate>[0])
    return { contentType: registry.contentType, body: await registry.metrics() }
  }

  cluster.on('exit', (worker) => { ready.delete(worker) })
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage(message)) return
    if (message.type === 'portcullis:metrics-ready') {
      ready.add(worker)
    } else if (message.type === 'portcullis:metrics-collected') {
      const entry = collecting.get(message.id)
      if (entry === undefined || !entry.waiting.delete(worker)) return
      entry.results.push(message.metrics)
      if (entry.waiting.size === 0) entry.done()
    } else if (message.type === 'portcullis:metrics-render') {
      const id = message.id
      render().then(
        ({ contentType, body }) => { if (worker.isConnected()) worker.send({ type: 'portcullis:metrics-rendered', id, contentType, body }) },
        (err: Error) => { if (worker.isConnected()) worker.send({ type: 'portcullis:metrics-rendered', id, error: err.message }) }
      )
    }
  })
  return { render }
}
