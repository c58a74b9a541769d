import assert from 'node:assert/strict'
import { test } from 'node:test'

import {
  balanceText, costLabel, costText, formatAgo, formatCredits, formatDuration, formatUsd, shortTaskId
} from '../../web/lib/format.js'

test('credits and dollars', () => {
  assert.equal(formatCredits(70), '70')
  assert.equal(formatCredits(104.5), '104.5')
  assert.equal(formatCredits(930.1234), '930.12')
  assert.equal(formatUsd(0.35), '$0.35')
  assert.equal(formatUsd(104.5 * 0.005), '$0.52') // as the README and the Python side print it
  assert.equal(costLabel({ credits: 70, usd: 0.35 }), 'est. 70 credits · $0.35')
  assert.equal(costLabel(null), '')
  assert.equal(formatUsd(2.795), '$2.80', 'half a cent rounds up, as two nodes of $1.40 add up')
  assert.equal(costLabel({ credits: 70, usd: 0.35 }, 'simulator'), 'est. 70 credits · $0.35 · simulator')
  assert.equal(costLabel({ credits: 70, usd: 0.35 }, 'apikley'), 'est. 70 credits · $0.35')
})

test('durations and ages', () => {
  assert.equal(formatDuration(42), '42s')
  assert.equal(formatDuration(161), '2m 41s')
  assert.equal(formatDuration(3720), '1h 02m')
  assert.equal(formatDuration(-3), '0s')
  assert.equal(formatAgo(1000, 1010), 'just now')
  assert.equal(formatAgo(1000, 1000 + 120), '2 min ago')
  assert.equal(formatAgo(0, 7200), '2 h ago')
  assert.equal(formatAgo(0, 3 * 86400), '3 d ago')
})

test('task ids are shortened for display', () => {
  assert.equal(shortTaskId('0123456789abcdef'), '0123456789ab…')
  assert.equal(shortTaskId('short'), 'short')
})

test('costs say whether the API reported them', () => {
  assert.equal(costText({ cost_credits: 70, cost_kind: 'reported' }), '70 credits (reported)')
  assert.equal(costText({ cost_credits: 70, cost_kind: 'measured' }), '70 credits (measured)')
  assert.equal(costText({ cost_credits: 104.5, cost_kind: 'estimate' }), '~104.5 credits (estimate)')
  assert.equal(costText({ cost_credits: null, cost_kind: 'unknown' }), 'cost unknown')
  assert.equal(costText({ cost_credits: null }), '')
})

test('balance answers', () => {
  assert.equal(balanceText({ ok: true, credits: 930, usd: 4.65 }), '930 credits ($4.65)')
  assert.equal(balanceText({ ok: false, msg: 'No API key.' }), 'No API key.')
  assert.equal(balanceText(undefined), 'Balance unknown.')
})
