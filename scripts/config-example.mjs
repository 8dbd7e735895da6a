// Writes config/portcullis.example.yaml from the config schema (run through `npm run config:example`).
import { writeFileSync } from 'node:fs'
import { renderExample } from '../dist/src/config/example.js'

const target = new URL('../config/portcullis.example.yaml', import.meta.url)
writeFileSync(target, renderExample())
process.stdout.write(`wrote ${target.pathname}\n`)
