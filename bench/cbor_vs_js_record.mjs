// cbor_vs_js_record.mjs - records a firehose sample from the local testnet for bench/cbor_vs_js.sh.
//
//   node cbor_vs_js_record.mjs <node_modules dir> <out file> <records N> [accounts A=8]
//   env: TESTNET_PDS_URL, TESTNET_PDS_WS_URL, TESTNET_HANDLE_DOMAIN (scripts/testnet.sh start)
//
// Subscribes to com.atproto.sync.subscribeRepos (live, no cursor) with `ws` from the pinned PDS install, creates A
// fresh accounts and N fm.plyr.track / like / comment records with random values across them (one write in flight
// per account, as separate users would), and writes every binary frame it receives (account/identity events and
// one #commit per record) to <out file> as u32-big-endian length ‖ frame bytes. Stops once the #commit frames of
// all N records arrived (or after a 60 s drain timeout). Progress on stderr; a JSON summary on stdout.

import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { createRequire } from 'node:module'

const [nodeModules, outFile, nArg, aArg] = process.argv.slice(2)
const total = Number.parseInt(nArg ?? '', 10)
const accounts = Number.parseInt(aArg ?? '8', 10)
const pds = (process.env.TESTNET_PDS_URL || '').replace(/\/$/, '')
const wsBase = (process.env.TESTNET_PDS_WS_URL || '').replace(/\/$/, '')
const domain = process.env.TESTNET_HANDLE_DOMAIN || '.test'
if (!nodeModules || !outFile || !(total > 0) || !(accounts > 0) || !pds || !wsBase) {
  console.error('usage: TESTNET_PDS_URL=… TESTNET_PDS_WS_URL=… node cbor_vs_js_record.mjs <node_modules> <out> <N> [A]')
  process.exit(2)
}
const require = createRequire(path.join(path.dirname(path.resolve(nodeModules)), 'package.json'))
const WebSocket = require('ws')

const log = (...a) => console.error('[record]', ...a)

async function xrpc(method, body, token) {
  const headers = { 'content-type': 'application/json' }
  if (token) headers.authorization = `Bearer ${token}`
  const res = await fetch(`${pds}/xrpc/${method}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  })
  const json = await res.json().catch(() => ({}))
  if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status} ${JSON.stringify(json)}`)
  return json
}

// ---- random records in plyr's shapes
const words = ['night', 'drive', 'échos', 'café', 'лето', '夜', 'bass', 'loop', 'tape', '🎵', 'blue', 'rain', 'static']
const pick = (a) => a[crypto.randomInt(a.length)]
const phrase = (n) => Array.from({ length: 1 + crypto.randomInt(n) }, () => pick(words)).join(' ')
const now = () => new Date().toISOString()
const fakeCid = (prefix) => `${prefix}${crypto.randomBytes(32).toString('hex').slice(0, 52).replace(/[0189]/g, 'a')}`

function trackRecord() {
  const rec = {
    $type: 'fm.plyr.track',
    title: phrase(6),
    artist: phrase(3),
    audioUrl: `https://plyr.example/audio/${crypto.randomBytes(16).toString('hex')}.mp3`,
    fileType: pick(['mp3', 'flac', 'wav', 'm4a']),
    duration: 30 + crypto.randomInt(600),
    createdAt: now(),
  }
  if (crypto.randomInt(2)) rec.album = phrase(4)
  if (crypto.randomInt(3) === 0) rec.features = [{ did: `did:plc:${fakeCid('').slice(0, 24)}`, handle: `x${crypto.randomInt(1e6)}.test` }]
  return rec
}

function likeRecord(didOf) {
  return {
    $type: 'fm.plyr.like',
    subject: { uri: `at://${didOf}/fm.plyr.track/3${fakeCid('').slice(0, 12)}`, cid: fakeCid('bafyrei') },
    createdAt: now(),
  }
}

function commentRecord(didOf) {
  return {
    $type: 'fm.plyr.comment',
    subject: { uri: `at://${didOf}/fm.plyr.track/3${fakeCid('').slice(0, 12)}`, cid: fakeCid('bafyrei') },
    text: phrase(30),
    timestampMs: crypto.randomInt(600_000),
    createdAt: now(),
  }
}

// ---- firehose subscription
const out = fs.openSync(outFile, 'w')
let frames = 0
let bytes = 0
let commits = 0 // record commits seen
let wantCommits = Infinity
let resolveDone
const done = new Promise((r) => (resolveDone = r))
const ws = new WebSocket(`${wsBase}/xrpc/com.atproto.sync.subscribeRepos`)
await new Promise((resolve, reject) => {
  ws.once('open', resolve)
  ws.once('error', reject)
})
ws.on('message', (data, isBinary) => {
  if (!isBinary) return
  const frame = Buffer.isBuffer(data) ? data : Buffer.concat(data)
  const len = Buffer.alloc(4)
  len.writeUInt32BE(frame.length)
  fs.writeSync(out, len)
  fs.writeSync(out, frame)
  frames++
  bytes += frame.length
  // The header is a tiny map {op, t} ("#commit" verbatim); a record's commit names its path "fm.plyr.…/…" in
  // `ops`, while the commits that create the accounts' repos have no ops.
  if (frame.subarray(0, 24).includes('#commit') && frame.includes('fm.plyr.')) commits++
  if (commits >= wantCommits) resolveDone()
})

// ---- accounts, then N records, one write in flight per account
const tag = crypto.randomBytes(3).toString('hex')
const users = []
for (let i = 0; i < accounts; i++) {
  const handle = `bench${tag}${i}${domain}`
  const r = await xrpc('com.atproto.server.createAccount', { handle, email: `${handle}@example.com`, password: 'bench-pass' })
  users.push({ did: r.did, token: r.accessJwt })
}
log(`${accounts} accounts created; writing ${total} records`)
const t0 = Date.now()
let next = 0
async function worker(user) {
  while (next < total) {
    const i = next++
    const other = users[crypto.randomInt(users.length)].did
    const record = i % 3 === 0 ? trackRecord() : i % 3 === 1 ? likeRecord(other) : commentRecord(other)
    await xrpc('com.atproto.repo.createRecord', { repo: user.did, collection: record.$type, record }, user.token)
    if ((i + 1) % 1000 === 0) log(`${i + 1} records (${Math.round(((i + 1) * 1000) / (Date.now() - t0))}/s)`)
  }
}
await Promise.all(users.map(worker))
wantCommits = total
if (commits < wantCommits) {
  const timer = setTimeout(resolveDone, 60_000)
  await done
  clearTimeout(timer)
}
ws.close()
fs.closeSync(out)
const seconds = (Date.now() - t0) / 1000
log(`${frames} frames (${commits} commits, ${bytes} bytes) in ${seconds.toFixed(1)} s`)
if (commits < wantCommits) {
  console.error(`[record] ERROR: only ${commits} of ${total} record commits arrived`)
  process.exit(1)
}
console.log(JSON.stringify({ frames, commits, bytes, records: total, accounts, seconds }))
process.exit(0)
