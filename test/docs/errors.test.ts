import { readFileSync } from 'node:fs'
import t from 'tap'
import { errorCodes, errorInfo } from '../../src/errors.js'

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')

t.test('docs/errors.md lists every code of the registry with its status', async (t) => {
  for (const code of errorCodes) {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`))
    t.ok(row, `${code} is documented`)
    const status = errorInfo(code).status
    if (row !== undefined && !code.startsWith('PCS_CONFIG_')) t.match(row, new RegExp(`\\| ${status} \\|`), `${code} documented as ${status}`)
  }
})

t.test('docs/errors.md documents no code that does not exist', async (t) => {
  const documented = [...doc.matchAll(/^\| `(PCS_[A-Z_]+)` \|/gm)].map((m) => m[1])
  t.same(documented.filter((code) => !(errorCodes as readonly string[]).includes(code ?? '')), [])
})
