import { readFileSync } from 'node:fs'
import t from 'tap'
import { accessLogOutcomes, requestOutcomes, type RequestOutcome } from '../../src/domain/outcomes.js'
import { newRequestState } from '../../src/http/context.js'

const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')
const table = doc.slice(doc.indexOf('Outcomes:'), doc.indexOf('### What never reaches the log'))

t.test('docs/operations.md documents every access-line outcome, and none that does not exist', async (t) => {
  const firstCells = [...table.matchAll(/^\| ([^|]+) \|/gm)].map((m) => m[1] as string)
  const documented = new Set(firstCells.flatMap((cell) => [...cell.matchAll(/`([a-z_0-9]+)`/g)].map((m) => m[1])))
  const known: readonly string[] = [...requestOutcomes, ...accessLogOutcomes]
  for (const outcome of known) t.ok(documented.has(outcome), `${outcome} is documented`)
  t.strictSame([...documented].filter((outcome) => !known.includes(outcome as string)), [])
})

t.test('outcomes: the request state takes only the vocabulary (checked by the compiler)', async (t) => {
  const state = newRequestState()
  const outcome: RequestOutcome = 'proxied'
  state.outcome = outcome
  // @ts-expect-error a misspelt outcome does not compile
  state.outcome = 'proxyed'
  t.equal(requestOutcomes.includes(state.outcome as RequestOutcome), false, 'only the compiler stops a misspelling')
})
