import { pino } from 'pino'

/*
 * Where the JSON log lines go in production: standard output, one write per event-loop turn.
 *
 * Every request writes its access line. Written one by one, that is one system call per request,
 * the largest single cost the profile showed in the gateway's own request path. Lines are instead
 * gathered while the current turn of the event loop runs (the responses that finished together)
 * and written in one synchronous call as soon as that turn is over, in the order they were logged.
 * Nothing waits longer than that turn, and on any exit that runs the process's exit handlers (a
 * normal exit, `process.exit`, an uncaught exception) what is gathered is written synchronously
 * first. Only a kill that runs no JavaScript (SIGKILL, an abort) can lose lines, and only those of
 * the turn in progress.
 */

/** Lines gathered beyond this many characters are written at once rather than at the end of the turn. */
const maxPending = 64 * 1024

export interface LineDestination {
  write (line: string): boolean
  /** Writes what is gathered, synchronously. */
  flushSync (): void
  flush (cb?: (err?: Error) => void): void
}

/** Creates the batched, synchronous destination for file descriptor `fd` (1: standard output). */
export function batchedDestination (fd = 1): LineDestination {
  const out = pino.destination({ dest: fd, sync: true })
  let pending = ''
  let scheduled = false

  function flushSync (): void {
    scheduled = false
    if (pending === '') return
    const text = pending
    pending = ''
    out.write(text)
  }

  process.on('exit', flushSync)
  return {
    write (line) {
      pending += line
      if (pending.length >= maxPending) flushSync()
      else if (!scheduled) {
        scheduled = true
        setImmediate(flushSync)
      }
      return true
    },
    flushSync,
    flush (cb) {
      flushSync()
      cb?.()
    }
  }
}

let lastMs = -1
let lastStamp = ''

/**
 * The `time` field in ISO form, exactly as the logging library's own ISO timestamp writes it,
 * formatted once per millisecond: under load many lines share each millisecond.
 */
export function isoTimestamp (): string {
  const ms = Date.now()
  if (ms !== lastMs) {
    lastMs = ms
    lastStamp = `,"time":"${new Date(ms).toISOString()}"`
  }
  return lastStamp
}
