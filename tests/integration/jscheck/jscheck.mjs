// jscheck.mjs - the JavaScript side of plyr's cross-check with the reference atproto libraries
// (@atproto/lex-cbor, @atproto/lex-json, @atproto/crypto, @atproto/lexicon as pinned in tests/fixtures/atproto-testnet).
//
//   node jscheck.mjs <node_modules dir> <request.json>
//
// request.json: {"ops": [{"op": "<name>", …}, …]}. Prints {"results": [ … ]} on stdout, one result per op in
// order; a failing op yields {"error": "<message>"} instead of aborting the batch. Exit 0 unless the request
// itself is unreadable (exit 2) or a library cannot be loaded (exit 1).
//
// Bytes travel as standard base64 (CBOR) or base64url (signatures, JWT segments), keys as lowercase hex.
// Ops:
//   lex_encode   {json}          strict lexParse → lex-cbor encode → {cbor, cid, json}
//   lex_decode   {cbor}          lex-cbor decode → {json, cbor (re-encoded), cid (of the input bytes)}
//   lex_decode_only {cbor}       lex-cbor decode only → {} (or the decoder's error)
//   random       {seed, count}   JS-built random records → [{json, cbor, cid}]
//   lex_validate {lexicon_dir, nsid, json}  @atproto/lexicon assertValidRecord → {valid, message, skipped}
//   keygen       {curve}         Keypair.create({exportable}) → {did, private_hex}
//   import_key   {curve, private_hex} → {did}
//   sign         {curve, private_hex, message_b64} → {sig} (base64url, 64 bytes)
//   verify       {did, message_b64, sig}                 → {valid}
//   sign_jwt     {curve, private_hex, payload}           → {token}
//   verify_jwt   {token, did}    verifySignature(did, header "." payload, sig, {jwtAlg}) → {valid}
// curve: "P-256" | "secp256k1".

import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const [nodeModules, requestFile] = process.argv.slice(2)
if (!nodeModules || !requestFile) {
  console.error('usage: node jscheck.mjs <node_modules dir> <request.json>')
  process.exit(2)
}

// ESM ignores NODE_PATH, so resolve the packages from the given install explicitly.
const require = createRequire(path.join(path.dirname(path.resolve(nodeModules)), 'package.json'))
const load = async (name) => import(pathToFileURL(require.resolve(name)).href)
const lexCbor = await load('@atproto/lex-cbor')
const lexJson = await load('@atproto/lex-json')
const lexData = await load('@atproto/lex-data')
const atCrypto = await load('@atproto/crypto')
const atLexicon = await load('@atproto/lexicon')

const b64 = (bytes) => Buffer.from(bytes).toString('base64')
const b64url = (bytes) => Buffer.from(bytes).toString('base64url')
const fromB64 = (s) => new Uint8Array(Buffer.from(s, 'base64'))
const fromB64url = (s) => new Uint8Array(Buffer.from(s, 'base64url'))

function keypairClass(curve) {
  if (curve === 'P-256') return atCrypto.P256Keypair
  if (curve === 'secp256k1') return atCrypto.Secp256k1Keypair
  throw new Error(`unknown curve ${curve}`)
}

async function encodeLex(value) {
  const cbor = lexCbor.encode(value)
  const cid = await lexCbor.cidForLex(value)
  return { cbor: b64(cbor), cid: cid.toString(), json: lexJson.lexStringify(value) }
}

// ---- random records built on the JS side (independent of plyr's generator)
function prng(seed) {
  // mulberry32: small, deterministic, good enough for test data
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const kAlphabet = ['a', 'b', 'z', 'A', '0', '_', '-', ' ', 'é', 'ß', 'ж', '中', '🎵', '𝄞', '\u0000', '"', '\\']
const kInts = [0, 1, -1, 23, 24, -24, -25, 255, 256, -256, -257, 65535, 65536, 4294967295, 4294967296,
  Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]

function randomString(r, max) {
  let s = ''
  const n = Math.floor(r() * (max + 1))
  for (let i = 0; i < n; i++) s += kAlphabet[Math.floor(r() * kAlphabet.length)]
  return s
}

function randomBytes(r, max) {
  const out = new Uint8Array(Math.floor(r() * (max + 1)))
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(r() * 256)
  return out
}

function randomCid(r, raw) {
  const digest = crypto.createHash('sha256').update(randomBytes(r, 40)).digest()
  return lexData.createCid(raw ? lexData.RAW_DATA_CODEC : lexData.CBOR_DATA_CODEC, lexData.SHA256_HASH_CODE,
    new Uint8Array(digest))
}

function randomKey(r) {
  let k = randomString(r, 6)
  if (k === '$link' || k === '$bytes' || k === '$type') k += 'x'
  return k
}

function randomValue(r, depth) {
  const pick = Math.floor(r() * (depth > 3 ? 7 : 9))
  switch (pick) {
    case 0: return null
    case 1: return r() < 0.5
    case 2: return r() < 0.5 ? kInts[Math.floor(r() * kInts.length)] : Math.floor((r() - 0.5) * 2 ** 40)
    case 3: return randomString(r, 12)
    case 4: return randomBytes(r, 24)
    case 5: return randomCid(r, r() < 0.3)
    case 6: return { $type: 'blob', ref: randomCid(r, true), mimeType: 'audio/mpeg', size: Math.floor(r() * 1e9) }
    case 7: {
      const a = []
      const n = Math.floor(r() * 5)
      for (let i = 0; i < n; i++) a.push(randomValue(r, depth + 1))
      return a
    }
    default: {
      const m = {}
      const n = Math.floor(r() * 6)
      for (let i = 0; i < n; i++) m[randomKey(r)] = randomValue(r, depth + 1)
      return m
    }
  }
}

function randomRecord(r) {
  const rec = { $type: `fm.plyr.${['track', 'like', 'comment'][Math.floor(r() * 3)]}` }
  const n = 1 + Math.floor(r() * 8)
  for (let i = 0; i < n; i++) rec[randomKey(r)] = randomValue(r, 1)
  return rec
}

// ---- lexicons: every *.json under a directory, loaded once per process
const lexiconSets = new Map()
function lexiconsFrom(dir) {
  if (!lexiconSets.has(dir)) {
    const lex = new atLexicon.Lexicons()
    const skipped = []
    for (const file of fs.readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.json')).sort()) {
      try {
        lex.add(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')))
      } catch (err) {
        skipped.push(`${file}: ${err.message}`)
      }
    }
    lexiconSets.set(dir, { lex, skipped })
  }
  return lexiconSets.get(dir)
}

// ---- ops
const ops = {
  async lex_encode({ json }) {
    return encodeLex(lexJson.lexParse(json, { strict: true }))
  },
  async lex_decode({ cbor }) {
    const bytes = fromB64(cbor)
    const value = lexCbor.decode(bytes)
    const digest = crypto.createHash('sha256').update(bytes).digest()
    const cid = lexData.createCid(lexData.CBOR_DATA_CODEC, lexData.SHA256_HASH_CODE, new Uint8Array(digest))
    return { json: lexJson.lexStringify(value), cbor: b64(lexCbor.encode(value)), cid: cid.toString() }
  },
  async lex_decode_only({ cbor }) {
    lexCbor.decode(fromB64(cbor))
    return {}
  },
  async random({ seed, count }) {
    const r = prng(seed)
    const out = []
    for (let i = 0; i < count; i++) out.push(await encodeLex(randomRecord(r)))
    return { records: out }
  },
  async lex_validate({ lexicon_dir, nsid, json }) {
    const { lex, skipped } = lexiconsFrom(lexicon_dir)
    // @atproto/lexicon's own JSON conversion: its validator expects its CID and BlobRef classes.
    const value = atLexicon.jsonToLex(JSON.parse(json))
    try {
      lex.assertValidRecord(nsid, value)
      return { valid: true, skipped }
    } catch (err) {
      return { valid: false, message: String(err?.message ?? err), skipped }
    }
  },
  async keygen({ curve }) {
    const kp = await keypairClass(curve).create({ exportable: true })
    return { did: kp.did(), private_hex: Buffer.from(await kp.export()).toString('hex') }
  },
  async import_key({ curve, private_hex }) {
    const kp = await keypairClass(curve).import(private_hex, { exportable: true })
    return { did: kp.did() }
  },
  async sign({ curve, private_hex, message_b64 }) {
    const kp = await keypairClass(curve).import(private_hex)
    return { sig: b64url(await kp.sign(fromB64(message_b64))) }
  },
  async verify({ did, message_b64, sig }) {
    return { valid: await atCrypto.verifySignature(did, fromB64(message_b64), fromB64url(sig)) }
  },
  async sign_jwt({ curve, private_hex, payload }) {
    const kp = await keypairClass(curve).import(private_hex)
    const header = { alg: kp.jwtAlg, typ: 'JWT' }
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`
    const sig = await kp.sign(new TextEncoder().encode(input))
    return { token: `${input}.${b64url(sig)}` }
  },
  async verify_jwt({ token, did }) {
    const parts = token.split('.')
    if (parts.length !== 3) throw new Error('not a compact JWS')
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'))
    const input = new TextEncoder().encode(`${parts[0]}.${parts[1]}`)
    const valid = await atCrypto.verifySignature(did, input, fromB64url(parts[2]), { jwtAlg: header.alg })
    return { valid }
  },
}

let request
try {
  request = JSON.parse(fs.readFileSync(requestFile, 'utf8'))
} catch (err) {
  console.error(`jscheck.mjs: cannot read ${requestFile}: ${err.message}`)
  process.exit(2)
}
const results = []
for (const item of request.ops ?? []) {
  try {
    const fn = ops[item.op]
    if (!fn) throw new Error(`unknown op ${item.op}`)
    results.push(await fn(item))
  } catch (err) {
    results.push({ error: String(err?.message ?? err) })
  }
}
process.stdout.write(JSON.stringify({ results }))
