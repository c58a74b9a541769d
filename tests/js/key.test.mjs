import assert from 'node:assert/strict'
import { test } from 'node:test'

import { cleanKey, keyStatusText, maskKey } from '../../web/lib/key.js'

test('the mask matches the server (config.mask_key): last four only; a short key only its length', () => {
  assert.equal(maskKey('sk-0123456789A1B2'), '••••A1B2')
  assert.equal(maskKey('short'), '•••• (5 characters)')
  assert.equal(maskKey('QWOPQWOP'), '•••• (8 characters)')
  assert.equal(maskKey(''), '')
  assert.equal(maskKey(undefined), '')
})

test('a pasted key is trimmed; impossible ones never leave the page', () => {
  assert.deepEqual(cleanKey('  abc123\n'), { ok: true, key: 'abc123' })
  assert.equal(cleanKey('').ok, false)
  assert.equal(cleanKey('   ').ok, false)
  assert.equal(cleanKey('abc def').ok, false)
  assert.equal(cleanKey('x'.repeat(257)).ok, false)
  assert.equal(cleanKey(null).ok, false)
})

test('the status text says which key wins, never more than the fingerprint', () => {
  const env = keyStatusText({ source: 'env', fingerprint: '••••A1B2', env_var: 'APIKLEY_API_KEY' })
  assert.match(env, /APIKLEY_API_KEY/)
  assert.match(env, /wins/)
  assert.equal(keyStatusText({ source: 'file', fingerprint: '••••A1B2' }), 'Saved key ••••A1B2 is in use.')
  assert.match(keyStatusText({ source: 'none', fingerprint: '' }), /No key yet/)
  assert.equal(keyStatusText(null), 'Key status unknown.')
})
