import t from 'tap'
import { formatPath, Problems } from '../../src/config/problems.js'
import { lines } from '../fixtures/config/base.js'

t.test('problems: paths read as a.b[1].c; odd keys are quoted; the root is (root)', async t => {
  t.equal(formatPath(['routes', 1, 'upstream']), 'routes[1].upstream')
  t.equal(formatPath(['access', 'claims', 'https://x/roles', 0]), 'access.claims["https://x/roles"][0]')
  t.equal(formatPath([]), '(root)')
})

t.test('problems: a settled path silences later problems at or under it, not beside it', async t => {
  const p = new Problems()
  p.settle(['provider', 'client_secret'], 'environment variable X is not set')
  p.add(['provider', 'client_secret'], 'must not be empty')
  p.add(['provider', 'client_secret_extra'], 'unknown key')
  p.settleOnly(['routes', 1])
  p.add(['routes', 1, 'path'], 'must start with "/"')
  p.add(['routes', 10, 'path'], 'must start with "/"')
  p.add(['routes', 10, 'path'], 'must start with "/"')
  t.strictSame(p.lines, lines(`
    provider.client_secret: environment variable X is not set
    provider.client_secret_extra: unknown key
    routes[10].path: must start with "/"
  `))
  t.equal(p.size, 3)
})
