import t from 'tap'
import { canonicalDomain, canonicalEmail, emailDomain } from '../../src/domain/email.js'

t.test('canonicalEmail: plain ASCII addresses compare in lower case', async (t) => {
  const cases: Array<[string, string]> = [
    ['alice@example.com', 'alice@example.com'],
    ['Alice@Example.COM', 'alice@example.com'],
    ['ALICE@EXAMPLE.COM', 'alice@example.com'],
    ['alice+tag@example.com', 'alice+tag@example.com'],
    ['a.l.i.c.e@mail.example.co.uk', 'a.l.i.c.e@mail.example.co.uk'],
    ['x@xn--bcher-kva.example', 'x@xn--bcher-kva.example']
  ]
  for (const [input, expected] of cases) t.equal(canonicalEmail(input), expected, input)
})

t.test('canonicalEmail: tricks are refused (null), so they can never match a rule', async (t) => {
  const tricks: Array<[string, string]> = [
    ['alice@example.com@evil.test', 'several @'],
    ['alice@evil.test@example.com', 'several @, allowed domain last'],
    ['"alice@example.com"@evil.test', 'quoted @ in the local part'],
    ['alice@example.com.', 'trailing dot'],
    ['alice@example.com..', 'two trailing dots'],
    ['alice@example..com', 'empty label'],
    ['alice@.example.com', 'leading dot in the domain'],
    ['@example.com', 'empty local part'],
    ['alice@', 'empty domain'],
    ['alice', 'no @'],
    ['', 'empty'],
    [' alice@example.com', 'leading space'],
    ['alice@example.com ', 'trailing space'],
    ['alice@example.com\n', 'trailing newline'],
    ['ali ce@example.com', 'inner space'],
    ['alice@exam_ple.com', 'underscore in the domain'],
    ['alice@example.com/evil', 'slash in the domain'],
    ['\u0430lice@example.com', 'Cyrillic a in the local part'],
    ['alice@ex\u0430mple.com', 'Cyrillic a in the domain'],
    ['alice@example\u3002com', 'ideographic full stop'],
    ['alice\uff20example.com', 'fullwidth commercial at'],
    ['\uff41lice@example.com', 'fullwidth a'],
    ['\u212Aate@example.com', 'KELVIN SIGN, which toLowerCase folds into ASCII k'],
    ['\u0130nfo@example.com', 'dotted capital I'],
    ['alice\u200b@example.com', 'zero-width space'],
    ['alice@example.com\u0000', 'NUL'],
    ['alice@b\u00fccher.example', 'non-ASCII domain (unencoded IDN)'],
    ['a'.repeat(65) + '@example.com', 'local part longer than 64'],
    ['a@' + 'b'.repeat(64) + '.com', 'label longer than 63']
  ]
  for (const [input, why] of tricks) t.equal(canonicalEmail(input), null, why)
})

t.test('emailDomain: the part after the one @', async (t) => {
  t.equal(emailDomain('alice@mail.example.com'), 'mail.example.com')
})

t.test('canonicalDomain: configured domains lose case, a leading @ and trailing dots', async (t) => {
  t.equal(canonicalDomain('Example.COM'), 'example.com')
  t.equal(canonicalDomain('@example.com'), 'example.com')
  t.equal(canonicalDomain('example.com.'), 'example.com')
  t.equal(canonicalDomain(' example.com '), 'example.com')
})
