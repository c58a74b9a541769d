import assert from 'node:assert/strict'
import { test } from 'node:test'

import { budgetBody, budgetRows, capValue } from '../../web/lib/budget.js'

// the shape of GET /apikley_wan/budget
const ANSWER = {
  ok: true,
  caps: { session_usd: 5, day_usd: 20, min_balance: null },
  source: { session_usd: 'settings', day_usd: 'env', min_balance: null },
  spent: { session_usd: 0.35, day_usd: 1.4 },
  env_vars: { session_usd: 'APIKLEY_BUDGET_SESSION_USD', day_usd: 'APIKLEY_BUDGET_DAY_USD', min_balance: 'APIKLEY_MIN_BALANCE' }
}

test('each cap shows what was spent against it and whether the environment sets it', () => {
  const [session, day, balance] = budgetRows(ANSWER)
  assert.deepEqual(session, { name: 'session_usd', label: 'Per-session cap (USD)', value: '5', fromEnv: false,
    note: '$0.35 of $5.00 spent this session.' })
  assert.equal(day.fromEnv, true)
  assert.equal(day.note, 'Set by APIKLEY_BUDGET_DAY_USD in ComfyUI\'s environment: it wins over Settings. $1.40 of $20.00 spent today.')
  assert.equal(balance.value, '')
  assert.equal(balance.note, 'No minimum.')
  assert.equal(budgetRows({ ...ANSWER, caps: { min_balance: 500 } })[2].note, 'A create must leave at least 500 credits.')
  assert.equal(budgetRows(null)[0].note, '$0.00 spent this session; no cap.')
})

test('the fields become the POST body; an environment cap is never sent; a bad number is named', () => {
  const rows = budgetRows(ANSWER)
  assert.deepEqual(budgetBody({ session_usd: ' 2.5 ', day_usd: '99', min_balance: '' }, rows),
    { body: { session_usd: 2.5, min_balance: null } })
  assert.deepEqual(budgetBody({ session_usd: 'five' }, rows), { error: 'Per-session cap (USD): "five" is not a number >= 0.' })
  assert.equal(capValue('-1').error, '"-1" is not a number >= 0')
  assert.equal(capValue('0'), 0)
  assert.equal(capValue(undefined), null)
})
