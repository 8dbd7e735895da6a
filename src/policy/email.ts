/**
 * Email handling for access rules. Matching is exact and ASCII-only on purpose: an address that is
 * not a plain `local@domain` (several `@`, whitespace, control or non-ASCII characters that could
 * be look-alikes) never matches any rule, so a trick can only lock someone out, never let them in.
 */

const asciiEmail = /^[\x21-\x3f\x41-\x7e]+@[a-z0-9-]+(\.[a-z0-9-]+)*$/

/** The canonical form used for comparisons, or null when the address is not safe to compare. */
export function canonicalEmail (email: string): string | null {
  const lower = email.toLowerCase()
  if (lower.length > 320 || !asciiEmail.test(lower)) return null
  return lower
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
