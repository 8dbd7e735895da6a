/**
 * The resolved config's type, derived from the schema: every key in camelCase (plus its field's
 * suffix, such as a duration's `Ms`), its decoded value, `null` for an optional key that is unset,
 * and an inline field's members spread into its parent. `toResolved` is the same mapping at run
 * time; the cross-field rules in `validate*.ts` then settle what a single key cannot.
 */
import { TransformKind } from '@sinclair/typebox'
import type { StaticDecode, TArray, TObject, TOptional, TProperties, TRecord, TSchema, TTransform } from '@sinclair/typebox'
import { FIELD, isRecord } from './key.js'
import type { Field } from './key.js'

/** `snake_case` to `camelCase`, the way `camel` does it at run time. */
type Camel<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S

type FieldOf<S> = S extends { readonly [FIELD]: infer F extends Field } ? F : {}

type NameOf<K extends string, S> = FieldOf<S> extends { readonly inline: true }
  ? never
  : FieldOf<S> extends { readonly suffix: infer X extends string } ? `${Camel<K>}${X}` : Camel<K>

type InlineOf<P extends TProperties> = {
  [K in keyof P]: FieldOf<P[K]> extends { readonly inline: true } ? Resolved<P[K]> : never
}[keyof P]

type Members<P extends TProperties> = {
  readonly [K in keyof P & string as NameOf<K, P[K]>]: P[K] extends TOptional<TSchema> ? Resolved<P[K]> | null : Resolved<P[K]>
}

type Merge<T> = { readonly [K in keyof T]: T[K] }

/** The resolved (camelCase, decoded) type of a config schema. */
export type Resolved<S> =
  S extends TTransform<TSchema, infer O> ? O
    : S extends TRecord ? Readonly<StaticDecode<S>>
      : S extends TObject<infer P> ? Merge<Members<P> & ([InlineOf<P>] extends [never] ? unknown : InlineOf<P>)>
        : S extends TArray<infer I> ? ReadonlyArray<Resolved<I>>
          : S extends TSchema ? StaticDecode<S> : never

export function camel (key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())
}

/** How `schema`'s value is named in its parent (see `field` in key.ts). */
export function fieldOf (schema: unknown): Field {
  return isRecord(schema) ? (schema as Record<symbol, unknown>)[FIELD] as Field | undefined ?? {} : {}
}

/**
 * A decoded file in resolved terms: each key of the schema under its camelCase field name (an
 * inline field's members spread into the parent), `null` for an unset key. Mappings of names the
 * operator chose (claims) keep their keys as written.
 */
export function toResolved<S extends TSchema> (schema: S, decoded: unknown): Resolved<S> {
  return resolve(schema, decoded) as Resolved<S>
}

function resolve (schema: unknown, value: unknown): unknown {
  if (value === undefined || value === null) return null
  if (!isRecord(schema)) return value
  if (Array.isArray(value)) return value.map(item => resolve(schema.items, item))
  if (!isRecord(schema.properties) || !isRecord(value) || (schema as Record<symbol, unknown>)[TransformKind] !== undefined) return value
  const out: Record<string, unknown> = {}
  for (const [key, child] of Object.entries(schema.properties)) {
    const name = fieldOf(child)
    const member = resolve(child, value[key])
    if (name.inline === true && isRecord(member)) Object.assign(out, member)
    else out[camel(key) + (name.suffix ?? '')] = member
  }
  return out
}
