import assert from 'node:assert/strict'
import { test } from 'node:test'

import { estimate, formatTable, fromServer, migration, priceRows } from '../../web/lib/prices.js'

// the shape GET /apikley_wan/prices answers (apikley_wan/price_settings.py status + account.py's "api")
const DEFAULT = { credits: { '5/720p': 70, '5/1080p': 104.5, '10/720p': 140, '10/1080p': 209.5 }, usd_per_credit: 0.005 }
const SERVER = { ...DEFAULT, estimate: true, note: 'Estimate.', overridden: false, override: '', default: DEFAULT, api: 'apikley' }
const OVERRIDDEN = {
  ...SERVER, credits: { ...DEFAULT.credits, '5/720p': 60 }, usd_per_credit: 0.01, overridden: true,
  override: '5/720p=60, usd_per_credit=0.01'
}

test('the server table estimates every offered combination', () => {
  const table = fromServer(SERVER)
  assert.deepEqual(estimate(table, '5', '720p'), { credits: 70, usd: 0.35 })
  assert.equal(estimate(table, '10', '1080p').credits, 209.5)
  assert.equal(table.overridden, false)
  assert.equal(estimate(table, '7', '720p'), null)
  assert.equal(estimate(null, '5', '720p'), null)
})

test('the table in force carries the saved override, the pack\'s own table and the API kind', () => {
  const table = fromServer({ ...OVERRIDDEN, api: 'simulator' })
  assert.deepEqual(estimate(table, '5', '720p'), { credits: 60, usd: 0.6 })
  assert.equal(table.overridden, true)
  assert.equal(table.override, '5/720p=60, usd_per_credit=0.01')
  assert.equal(table.api, 'simulator')
  assert.equal(formatTable(table.defaults), '5/720p=70, 5/1080p=104.5, 10/720p=140, 10/1080p=209.5, usd_per_credit=0.005')
  assert.equal(fromServer({ credits: {} }), null)
  assert.equal(fromServer(null), null)
})

test('an override kept in this browser is sent once when the server has none, else dropped', () => {
  assert.equal(migration('10/1080p=200', fromServer(SERVER)), 'send')
  assert.equal(migration('10/1080p=200', fromServer(OVERRIDDEN)), 'drop')
  assert.equal(migration('  ', fromServer(SERVER)), null)
  assert.equal(migration(undefined, fromServer(SERVER)), null)
  assert.equal(migration('10/1080p=200', null), null, 'not before the server answered')
})

test('priceRows lists every entry with its dollars', () => {
  const rows = priceRows(fromServer(SERVER))
  assert.equal(rows.length, 4)
  assert.deepEqual(rows[1], { key: '5/1080p', credits: 104.5, usd: 0.5225 })
  assert.deepEqual(priceRows(null), [])
})
