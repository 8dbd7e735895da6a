/**
 * Writes a resolved {@link Config} back in the file's own terms (snake_case keys, durations such as
 * `7d`, `host:port`), defaults included: the config schema's own encoding (`codec.ts`), so a key
 * added to the schema appears here without another edit. `check` prints this, so what an operator
 * reads is a complete config file they could load as it is (once secrets are filled back in).
 */
import { toFile } from './codec.js'
import { ConfigSchema } from './schema.js'
import type { Config } from './types.js'

/** The effective config as a plain object in file shape; keys that are unset (null) are left out. */
export function toFileShape (config: Config): Record<string, unknown> {
  const file = toFile(ConfigSchema, config) as { pages: { brand: Record<string, unknown> } }
  // The one value the file holds in two keys: a logo read from logo_file is inlined, so only a
  // logo that came from logo_url is written back as one.
  const { logo, logoFile } = config.pages.brand
  if (logo !== null && logoFile === null) file.pages.brand.logo_url = logo
  return file as Record<string, unknown>
}
