// The API key as the settings entry handles it: checked locally, shown only masked. Pure (no DOM).

const MAX_KEY_LENGTH = 256 // as account.MAX_KEY_LENGTH on the server

/** Same fingerprint as the server's config.mask_key: the last four characters; of a short key, its length. */
export function maskKey(key) {
  if (!key) return ''
  return key.length > 8 ? `••••${key.slice(-4)}` : `•••• (${key.length} characters)`
}

/** The pasted text trimmed, or why it cannot be a key (checked before anything is sent). */
export function cleanKey(raw) {
  const key = String(raw ?? '').trim()
  if (!key) return { ok: false, msg: 'Paste your apikley API key first.' }
  if (key.length > MAX_KEY_LENGTH) return { ok: false, msg: 'That is too long for an API key.' }
  if (/[\s\x00-\x1f]/.test(key)) return { ok: false, msg: 'An API key has no spaces or line breaks.' }
  return { ok: true, key }
}

/** What GET /apikley_wan/key means for the user, including that the environment variable wins. */
export function keyStatusText(status) {
  if (!status) return 'Key status unknown.'
  if (status.source === 'env') {
    return `Using ${status.env_var} from ComfyUI's environment (${status.fingerprint}); it wins over a key saved here.`
  }
  if (status.source === 'file') return `Saved key ${status.fingerprint} is in use.`
  return 'No key yet: paste your apikley API key and press Check & save.'
}
