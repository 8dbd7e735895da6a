/**
 * The resolved config's type, derived from the schema: every key in camelCase (plus its field's
 * suffix, such as a duration's `Ms`), its decoded value, `null` for an optional key that is unset,
 * and an inline field's members spread into its parent. `toResolved` is the same mapping at run
 * time; the cross-field rules in `validate*.ts` then settle what a single key cannot.
 */
import type { StaticDecode, TArray, TObject, TOptional, TProperties, TRecord, TSchema, TTransform } from '@sinclair/typebox'
import { FIELD } from './key.js'
import type { Field } from './key.js'

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
