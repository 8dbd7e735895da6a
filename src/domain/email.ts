/**
 * Email handling for access rules. Matching is exact and ASCII-only on purpose: an address that is
 * not a plain `local@domain` (several `@`, whitespace, control or non-ASCII characters that could
 * be look-alikes, a trailing dot, an empty label) never matches any rule, so a trick can only lock
 * someone out, never let them in.
 */

/**
 * Printable ASCII without `@` in the local part; lower-case LDH labels in the domain, separated
 * by single dots, with no trailing dot. Checked after lower-casing, which is safe only because the
 * input was first required to be ASCII (see below).
 */
const asciiEmail = /^[\x21-\x3f\x41-\x7e]{1,64}@[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*$/

/** Anything outside printable ASCII. */
const nonAscii = /[^\x21-\x7e]/

/**
 * The canonical form used for comparisons (lower case), or null when the address is not safe to
 * compare. ASCII is required BEFORE lower-casing: `toLowerCase` folds some non-ASCII letters into
 * ASCII ones (U+212A KELVIN SIGN becomes `k`), which would let a look-alike address match a rule.
 * Local parts compare case-insensitively, as every mainstream provider treats them; `+tags` and
 * dots are significant (an exact match, never a guess at the provider's aliasing).
 */
export function canonicalEmail (email: string): string | null {
  if (email.length > 254 || nonAscii.test(email)) return null
  const lower = email.toLowerCase()
  return asciiEmail.test(lower) ? lower : null
}

/** The domain of a canonical email. */
export function emailDomain (canonical: string): string {
  return canonical.slice(canonical.lastIndexOf('@') + 1)
}

/** The canonical form of a configured domain: lower case, no leading `@`, no trailing dot. */
export function canonicalDomain (domain: string): string {
  let d = domain.trim().toLowerCase()
  if (d.startsWith('@')) d = d.slice(1)
  while (d.endsWith('.')) d = d.slice(0, -1)
  return d
}
