import assert from 'node:assert/strict'
import { test } from 'node:test'

import { parseFinalLine } from '../../web/lib/status.js'

test('final lines of the nodes name their task', () => {
  // the exact lines nodes/generate.py and nodes/task.py send
  assert.deepEqual(parseFinalLine('Done: task 9f8e7d | 70 credits | /out/apikley_wan/wan26_v2v_9f8e7d.mp4'),
    { kind: 'done', taskId: '9f8e7d' })
  assert.deepEqual(parseFinalLine('Reused: task abc (no new charge) | /x.mp4'), { kind: 'reused', taskId: 'abc' })
  assert.deepEqual(parseFinalLine('Submitted: task abc (waiting)'), { kind: 'submitted', taskId: 'abc' })
})

test('live status lines and noise are not final', () => {
  assert.equal(parseFinalLine('Wan 2.6 V2V: generating | task abc | 12s elapsed | ~70 credits ($0.35, estimate)'), null)
  assert.equal(parseFinalLine('Cancelled. If a task was already created …'), null)
  assert.equal(parseFinalLine(''), null)
  assert.equal(parseFinalLine(undefined), null)
})
