import assert from 'node:assert/strict'
import fs from 'node:fs'
import { test } from 'node:test'

import { PACK_IDS, stampPackIds } from '../../web/lib/pack_id.js'

const pyproject = fs.readFileSync(new URL('../../pyproject.toml', import.meta.url), 'utf8')

test('the ids are pyproject\'s [project] name and its repository\'s owner/name', () => {
  assert.equal(PACK_IDS.cnr_id, pyproject.match(/^\[project\][^[]*?^name = "([^"]+)"/m)[1])
  const repository = pyproject.match(/^Repository = "https:\/\/github\.com\/([^"]+)"/m)[1]
  assert.equal(PACK_IDS.aux_id, repository)
})

test('a node without ids gets both; what Manager or a saved workflow stamped is kept', () => {
  assert.deepEqual(stampPackIds({ 'Node name for S&R': 'X' }), { 'Node name for S&R': 'X', ...PACK_IDS })
  assert.deepEqual(stampPackIds(undefined), { ...PACK_IDS })
  assert.deepEqual(stampPackIds({ cnr_id: 'apikley-wan26-v2v', ver: '0.1.0' }), { cnr_id: 'apikley-wan26-v2v', ver: '0.1.0' })
  assert.deepEqual(stampPackIds({ aux_id: 'someone/fork' }), { aux_id: 'someone/fork' })
})
