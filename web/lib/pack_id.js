// The pack's ids as ComfyUI-Manager stamps them into each saved node (properties.cnr_id: the Comfy
// Registry id, pyproject's [project] name; aux_id: the GitHub owner/name of [project.urls]
// Repository). A workflow shared with someone who lacks the pack then names a pack Manager can
// install. tests/js/pack_id.test.mjs holds these to pyproject.toml.
export const PACK_IDS = Object.freeze({ cnr_id: 'apikley-wan26-v2v', aux_id: 'apikley-wan/ComfyUI-Apikley-Wan26' })

/** The pack's ids put into a node's properties where Manager (or a saved workflow) has put none. */
export function stampPackIds(properties) {
  const stamped = { ...(properties ?? {}) }
  if (!stamped.cnr_id && !stamped.aux_id) Object.assign(stamped, PACK_IDS)
  return stamped
}

/** Whether a node is one of the pack's (their classes all start with "Apikley"). */
export const isPackNode = (node) => String(node?.comfyClass ?? '').startsWith('Apikley')
