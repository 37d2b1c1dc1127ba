// cbor_vs_js_decode.mjs - the JavaScript half of bench/cbor_vs_js.sh: the same work as bench/cbor_bench.cpp on the
// same sample, with the reference decoder @atproto/lex-cbor (cborg with atproto's strict options).
//
//   node cbor_vs_js_decode.mjs <node_modules dir> <sample file> [passes=10]
//
// Per frame: lex-cbor decodeAll → header + body; for a body with `blocks` (a CAR), the CAR header and each
// section: varint length, CID (lex-data decodeCid over its exact bytes), the block's sha2-256 (node:crypto,
// synchronous: the fastest hash JS has, so the ratio does not flatter plyr) compared with the CID's digest, and
// the block decoded with lex-cbor. Pass 0 warms the JIT and is not timed. Prints one JSON line like cbor_bench.

import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const [nodeModules, sampleFile, passArg] = process.argv.slice(2)
const passes = Number.parseInt(passArg ?? '10', 10)
if (!nodeModules || !sampleFile || !(passes >= 1)) {
  console.error('usage: node cbor_vs_js_decode.mjs <node_modules> <sample file> [passes]')
  process.exit(2)
}
const require = createRequire(path.join(path.dirname(path.resolve(nodeModules)), 'package.json'))
const load = async (name) => import(pathToFileURL(require.resolve(name)).href)
const lexCbor = await load('@atproto/lex-cbor')
const lexData = await load('@atproto/lex-data')

function readVarint(buf, pos) {
  let value = 0
  let shift = 0
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint')
    const b = buf[pos++]
    value += (b & 0x7f) * 2 ** shift
    if ((b & 0x80) === 0) return [value, pos]
    shift += 7
    if (shift > 56) throw new Error('varint too long')
  }
}

// Length of the binary CIDv1 at `pos`: version, codec, hash code, digest length, digest.
function cidLength(buf, pos) {
  let p = pos
  for (let i = 0; i < 3; i++) p = readVarint(buf, p)[1]
  const [len, q] = readVarint(buf, p)
  return q + len - pos
}

function decodeFrame(frame, counts) {
  const items = [...lexCbor.decodeAll(frame)]
  if (items.length !== 2) throw new Error(`frame has ${items.length} items`)
  counts.frames++
  const blocks = items[1]?.blocks
  if (!(blocks instanceof Uint8Array)) return
  let [hlen, pos] = readVarint(blocks, 0)
  const header = lexCbor.decode(blocks.subarray(pos, pos + hlen))
  if (header.version !== 1 || !Array.isArray(header.roots)) throw new Error('bad CAR header')
  pos += hlen
  while (pos < blocks.length) {
    let slen
    ;[slen, pos] = readVarint(blocks, pos)
    const end = pos + slen
    const clen = cidLength(blocks, pos)
    const cid = lexData.decodeCid(blocks.subarray(pos, pos + clen))
    const data = blocks.subarray(pos + clen, end)
    const digest = crypto.createHash('sha256').update(data).digest()
    if (!digest.equals(cid.multihash.digest)) throw new Error('block does not match its CID')
    lexCbor.decode(data)
    counts.blocks++
    pos = end
  }
}

const file = fs.readFileSync(sampleFile)
const frames = []
for (let pos = 0; pos + 4 <= file.length; ) {
  const len = file.readUInt32BE(pos)
  pos += 4
  if (pos + len > file.length) throw new Error('truncated sample')
  frames.push(new Uint8Array(file.buffer, file.byteOffset + pos, len))
  pos += len
}

let counts
const seconds = []
const cpuSeconds = []
for (let pass = 0; pass <= passes; pass++) {
  counts = { frames: 0, blocks: 0 }
  const c0 = process.cpuUsage() // whole process, so GC helper threads count too
  const t0 = process.hrtime.bigint()
  for (const frame of frames) decodeFrame(frame, counts)
  const dt = Number(process.hrtime.bigint() - t0) / 1e9
  const c = process.cpuUsage(c0)
  if (pass > 0) {
    seconds.push(dt)
    cpuSeconds.push((c.user + c.system) / 1e6)
  }
}
seconds.sort((a, b) => a - b)
cpuSeconds.sort((a, b) => a - b)
const best = seconds[0]
const median = seconds[Math.floor(seconds.length / 2)]
const cpuMedian = cpuSeconds[Math.floor(cpuSeconds.length / 2)]
console.log(JSON.stringify({
  impl: 'js @atproto/lex-cbor', frames: counts.frames, blocks: counts.blocks, bytes: file.length, passes,
  best_s: Number(best.toFixed(6)), median_s: Number(median.toFixed(6)),
  events_per_s: Math.round(counts.frames / best), median_events_per_s: Math.round(counts.frames / median),
  cpu_median_s: Number(cpuMedian.toFixed(6)), cpu_events_per_s: Math.round(counts.frames / cpuMedian),
}))
