import assert from 'node:assert/strict'
import { test } from 'node:test'

import { effectiveTable, estimate, formatTable, fromServer, parseOverride, priceRows } from '../../web/lib/prices.js'

// the shape GET /apikley_wan/prices answers (apikley_wan/account.py price_table)
const SERVER = {
  credits: { '5/720p': 70, '5/1080p': 104.5, '10/720p': 140, '10/1080p': 209.5 },
  usd_per_credit: 0.005, estimate: true, note: 'Estimate.'
}

test('the server table estimates every offered combination', () => {
  const table = effectiveTable(fromServer(SERVER), '')
  assert.deepEqual(estimate(table, '5', '720p'), { credits: 70, usd: 0.35 })
  assert.equal(estimate(table, '10', '1080p').credits, 209.5)
  assert.equal(table.overridden, false)
  assert.equal(estimate(table, '7', '720p'), null)
  assert.equal(estimate(null, '5', '720p'), null)
})

test('an override replaces only its entries and the dollar rate', () => {
  const table = effectiveTable(fromServer(SERVER), '10/1080p=200; usd_per_credit=0.01\n5s/720p = 60')
  assert.equal(table.overridden, true)
  assert.deepEqual(estimate(table, '10', '1080p'), { credits: 200, usd: 2 })
  assert.equal(estimate(table, '5', '720p').credits, 60)
  assert.equal(estimate(table, '5', '1080p').credits, 104.5)
})

test('a bad override is reported and ignored as a whole', () => {
  for (const bad of ['10/1080p=-1', '10/1080p', 'hd=5', '5/720p=abc', '5/720p=1=2']) {
    assert.equal(parseOverride(bad).ok, false, bad)
    const table = effectiveTable(fromServer(SERVER), `5/720p=1, ${bad}`)
    assert.ok(table.error, bad)
    assert.equal(estimate(table, '5', '720p').credits, 70, bad)
  }
})

test('without the server table an override alone still prices a run', () => {
  assert.equal(effectiveTable(null, ''), null)
  assert.equal(effectiveTable(null, '5/720p=70'), null) // no dollar rate
  assert.deepEqual(estimate(effectiveTable(null, '5/720p=70, usd=0.005'), '5', '720p'), { credits: 70, usd: 0.35 })
})

test('formatTable writes what parseOverride reads', () => {
  const table = fromServer(SERVER)
  const parsed = parseOverride(formatTable(table))
  assert.equal(parsed.ok, true)
  assert.deepEqual(parsed.credits, SERVER.credits)
  assert.equal(parsed.usdPerCredit, 0.005)
  assert.equal(fromServer({ credits: {} }), null)
  assert.equal(fromServer(null), null)
})

test('priceRows lists every entry with its dollars', () => {
  const rows = priceRows(fromServer(SERVER))
  assert.equal(rows.length, 4)
  assert.deepEqual(rows[1], { key: '5/1080p', credits: 104.5, usd: 0.5225 })
  assert.deepEqual(priceRows(null), [])
})
