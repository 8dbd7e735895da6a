import t from 'tap'
import { createTestClock } from '../helpers/clock.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { labelValues, sample } from '../helpers/prometheus.js'
import { closedPort } from '../helpers/listen.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

const hour = 3600_000
const clock = createTestClock()
let stack: Stack

t.before(async () => {
  const down = await closedPort()
  stack = await startStack({
    store: 'redis',
    now: clock.now,
    configure: (raw) => {
      const upstream = raw.routes[0].upstream as string
      raw.routes.push({ path: '/admin/', upstream, allow: { emails: ['nobody@example.com'] } })
      raw.routes.push({ path: '/down/', upstream: `http://127.0.0.1:${down}` })
      // The assertion keyring takes store locks of its own; off here so lock counts are the refresh's.
      raw.identity = { assertion: { enabled: false } }
      // Every request reaches the store, so store latency and errors are what is counted.
      raw.session.cache = { enabled: false }
      raw.metrics = { public: true }
    }
  })
})
t.teardown(() => stack.close())

async function metricsText (url: string): Promise<string> {
  const response = await fetch(url)
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`)
  return await response.text()
}

t.test('metrics: after real traffic /metrics counts requests by route and status class, sign-ins, refreshes, upstream errors and dependency latency', async (t) => {
  const jar = new CookieJar()
  const json = { headers: { accept: 'application/json' } }
  const landed = await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  t.equal(landed.status, 200)
  t.equal((await fetchWithJar(`${stack.url}/app/page-1234`, jar, json)).status, 200)
  t.equal((await fetch(`${stack.url}/api/secret-path-9876`, json)).status, 401)
  t.equal((await fetchWithJar(`${stack.url}/admin/users`, jar, json)).status, 403)
  t.equal((await fetchWithJar(`${stack.url}/down/x`, jar, json)).status, 502)
  clock.advance(hour)
  t.equal((await fetchWithJar(`${stack.url}/after-refresh`, jar, json)).status, 200)

  const response = await fetch(`${stack.url}/metrics`)
  t.equal(response.status, 200)
  t.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const text = await response.text()

  // Requests: the sign-in redirect, the landing page, one proxied page and the request after the refresh.
  t.equal(sample(text, 'portcullis_http_requests_total', { route: '/', status_class: '3xx' }), 1)
  t.equal(sample(text, 'portcullis_http_requests_total', { route: '/', status_class: '2xx' }), 3)
  t.equal(sample(text, 'portcullis_http_requests_total', { route: '/api/', status_class: '4xx' }), 1)
  t.equal(sample(text, 'portcullis_http_requests_total', { route: '/admin/', status_class: '4xx' }), 1)
  t.equal(sample(text, 'portcullis_http_requests_total', { route: '/down/', status_class: '5xx' }), 1)
  t.equal(sample(text, 'portcullis_http_requests_total', { route: '/oauth2/start', status_class: '3xx' }), 1)
  t.equal(sample(text, 'portcullis_http_requests_total', { route: '/oauth2/callback', status_class: '3xx' }), 1)
  t.equal(sample(text, 'portcullis_http_request_duration_seconds_count', { route: '/' }), 4)
  t.equal(sample(text, 'portcullis_http_request_duration_seconds_bucket', { route: '/', le: '+Inf' }), 4)

  // The route label is the configured route, never the request path.
  t.strictSame(labelValues(text, 'portcullis_http_requests_total', 'route'),
    ['/', '/admin/', '/api/', '/down/', '/oauth2/callback', '/oauth2/start', '/ready'])
  t.notMatch(text, /page-1234|secret-path-9876|after-refresh|users/)

  t.equal(sample(text, 'portcullis_sign_ins_total', { outcome: 'success' }), 1)
  t.equal(sample(text, 'portcullis_refreshes_total', { outcome: 'refreshed', trigger: 'expiry' }), 1)
  t.equal(sample(text, 'portcullis_refresh_grants_total', {}), 1)
  t.equal(sample(text, 'portcullis_upstream_errors_total', { route: '/down/', kind: 'unavailable' }), 1)
  t.equal(sample(text, 'portcullis_provider_request_duration_seconds_count', { operation: 'discovery' }), 1)
  t.equal(sample(text, 'portcullis_provider_request_duration_seconds_count', { operation: 'code_exchange' }), 1)
  t.equal(sample(text, 'portcullis_provider_request_duration_seconds_count', { operation: 'refresh' }), 1)
  t.equal(sample(text, 'portcullis_provider_errors_total', { operation: 'refresh' }), undefined, 'no provider failure happened')
  t.ok((sample(text, 'portcullis_store_operation_duration_seconds_count', { operation: 'get' }) ?? 0) >= 1, 'session loads are timed')
  t.equal(sample(text, 'portcullis_store_operation_duration_seconds_count', { operation: 'acquireLock' }), 1, 'one refresh lock taken')
  t.equal(sample(text, 'portcullis_store_operation_duration_seconds_count', { operation: 'take' }), 1, 'one pending sign-in consumed')
  t.equal(sample(text, 'portcullis_store_errors_total', { operation: 'get' }), undefined)
  t.match(text, /# TYPE portcullis_refresh_lock_wait_seconds histogram/)
  t.match(text, /# TYPE process_resident_memory_bytes gauge/, 'the standard process metrics are included')
})

t.test('metrics: store failures are counted as store errors', async (t) => {
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'bob@example.com' })
  const before = sample(await metricsText(`${stack.url}/metrics`), 'portcullis_store_errors_total', { operation: 'get' }) ?? 0
  stack.redis!.pause()
  try {
    const down = await fetchWithJar(`${stack.url}/x`, jar, { headers: { accept: 'application/json' } })
    t.equal(down.status, 503)
  } finally {
    stack.redis!.resume()
  }
  const text = await metricsText(`${stack.url}/metrics`)
  t.equal(sample(text, 'portcullis_store_errors_total', { operation: 'get' }), before + 1)
  t.equal(sample(text, 'portcullis_http_requests_total', { route: '/', status_class: '5xx' }), 1)
})

t.test('metrics: metrics.listen serves /metrics on its own address only, and two gateways in one process count separately', async (t) => {
  const other = await startStack({
    store: 'memory',
    provider: stack.provider,
    upstreamUrl: stack.upstreamUrl,
    configure: (raw) => { raw.metrics = { listen: '127.0.0.1:0' } }
  })
  t.teardown(() => other.close())
  // Port 0: the metrics listener reports the port it got.
  const metricsUrl = other.gateway.metricsUrl() ?? ''
  t.match(metricsUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/)
  t.not(new URL(metricsUrl).port, new URL(other.url).port, 'its own port, not the main listener\'s')
  const onMain = await fetch(`${other.url}/metrics`)
  t.equal(onMain.status, 404, 'not on the main listener')
  t.equal((await fetch(`${metricsUrl}/other`)).status, 404)
  t.equal((await fetch(`${other.url}/public/x`, { headers: { accept: 'application/json' } })).status, 200)
  const text = await metricsText(`${metricsUrl}/metrics`)
  t.equal(sample(text, 'portcullis_http_requests_total', { route: '/public/', status_class: '2xx' }), 1)
  t.equal(sample(text, 'portcullis_sign_ins_total', { outcome: 'success' }), undefined, 'the first gateway\'s sign-ins are not here')
  const first = await metricsText(`${stack.url}/metrics`)
  t.equal(sample(first, 'portcullis_http_requests_total', { route: '/public/', status_class: '2xx' }), undefined, 'nor this one\'s requests there')
})

t.test('metrics: metrics.enabled false serves no /metrics', async (t) => {
  const off = await startStack({ store: 'memory', provider: stack.provider, upstreamUrl: stack.upstreamUrl, configure: (raw) => { raw.metrics = { enabled: false } } })
  t.teardown(() => off.close())
  const response = await fetch(`${off.url}/metrics`)
  t.equal(response.status, 404)
  t.equal(response.headers.get('x-portcullis-error'), 'PCS_NOT_FOUND')
})
