// The pack's templates and node names as a newcomer meets them, printed as one JSON line for
// tests/test_browser_templates.py (which owns ComfyUI and the assertions). Every template is opened
// through the frontend's own template browser; then the node search box is typed into.
// Environment (besides comfy_page.mjs's): PACK (the pack's folder name), TEMPLATES (its template
// names, JSON), QUERIES (search texts, JSON); THUMBS_DIR, when set, gets a <template>.jpg thumbnail
// of each opened graph (how example_workflows/*.jpg are made).
import fs from 'node:fs'
import path from 'node:path'

import { withComfyPage } from './comfy_page.mjs'

const { PACK, THUMBS_DIR } = process.env
const TEMPLATES = JSON.parse(process.env.TEMPLATES)
const QUERIES = JSON.parse(process.env.QUERIES)
const CARD = '[data-testid^="template-workflow-"]'
const THUMB_PX = 600

await withComfyPage(async ({ page, seen, shot, inPage }) => {
  const openPackTemplates = async () => {
    await page.waitForFunction((card) => !document.querySelector(card), CARD) // the last one has closed
    await inPage(() => window.comfyAPI.app.app.extensionManager.command.execute('Comfy.BrowseTemplates'))
    await page.getByText(PACK, { exact: true }).first().click()
    await page.waitForFunction(({ card, count }) => {
      const cards = document.querySelectorAll(card)
      return cards.length === count && [...cards].every((c) => c.querySelector('img')?.complete)
    }, { card: CARD, count: TEMPLATES.length }, { timeout: 30000 })
  }

  // 1. The template browser: each card's title, text and the thumbnail the frontend loaded.
  await openPackTemplates()
  await page.waitForTimeout(500) // the thumbnails' fade-in
  seen.cards = await inPage((card) => [...document.querySelectorAll(card)].map((c) => {
    const img = c.querySelector('img')
    return { name: c.dataset.testid.replace('template-workflow-', ''), text: c.innerText,
      thumbnail: { src: img.currentSrc || img.src, width: img.naturalWidth, height: img.naturalHeight } }
  }), CARD)
  await shot('templates_browser.png')
  await page.keyboard.press('Escape')

  // 2. Each template, opened by clicking its card: node rectangles, the view, the note.
  seen.opened = {}
  for (const [i, name] of TEMPLATES.entries()) {
    await openPackTemplates()
    await page.locator(`[data-testid="template-workflow-${name}"]`).click()
    await page.waitForFunction((name) => {
      const app = window.comfyAPI.app.app
      return app.extensionManager.workflow.activeWorkflow?.filename === name && app.graph._nodes.length > 1
    }, name, { timeout: 30000 })
    await page.waitForTimeout(1500) // previews and DOM widgets settle; a node that grows shows it now
    // every node's box as drawn (the title bar included; Nodes 2.0: its DOM element's box), on screen
    // and in graph units (`rect`: x, y, width, height — what a layout can be made from)
    seen.opened[name] = await inPage(() => {
      const { app } = window.comfyAPI.app
      const canvas = app.canvas
      const box = canvas.canvas.getBoundingClientRect()
      const toGraph = (x, y) => [(x - box.left) / canvas.ds.scale - canvas.ds.offset[0],
        (y - box.top) / canvas.ds.scale - canvas.ds.offset[1]]
      const nodes = app.graph._nodes.map((n) => {
        const drawn = window.__view.nodeBox(n.id)
        const [x0, y0] = toGraph(drawn.left, drawn.top)
        const [x1, y1] = toGraph(drawn.right, drawn.bottom)
        return { id: String(n.id), type: n.type, title: n.title, box: drawn, rect: [x0, y0, x1 - x0, y1 - y0],
          pos: [...n.pos], text: n.type.endsWith('Note') ? String(n.widgets?.[0]?.value ?? '') : undefined }
      })
      return { scale: canvas.ds.scale, canvas: { left: box.left, top: box.top, right: box.right, bottom: box.bottom },
        nodes2: window.__view.nodes2, nodes }
    })
    await shot(`template_${i + 1}.png`)
    if (THUMBS_DIR) await thumbnail(page, name)
  }

  // 3. The node search box: double-click the empty canvas, type, read the list, Enter adds the first.
  seen.search = {}
  for (const query of QUERIES) {
    await inPage(() => window.comfyAPI.app.app.graph.clear())
    await openSearchBox(page)
    await page.keyboard.type(query, { delay: 20 })
    await page.waitForTimeout(1200)
    const listed = (await page.locator('[role="option"]').allInnerTexts())
      .map((text) => text.replace(/\s+/g, ' ').trim()).filter(Boolean)
    await shot(`search_${query.replace(/\W+/g, '_')}.png`)
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => window.comfyAPI.app.app.graph._nodes.length === 1, null, { timeout: 10000 })
    const added = await inPage(() => {
      const node = window.comfyAPI.app.app.graph._nodes[0]
      return { type: node.type, title: node.title, width: node.size[0] }
    })
    seen.search[query] = { listed, added }
  }

  // 4. The short-titled nodes at their default width: is the title drawn whole?
  seen.titles = await inPage(() => {
    const { app } = window.comfyAPI.app
    const ctx = app.canvas.ctx
    ctx.save()
    ctx.font = app.canvas.title_text_font
    const out = {}
    for (const type of ['ApikleyTaskPoll', 'ApikleyTaskFetch', 'ApikleyTaskFromId']) {
      const node = window.LiteGraph.createNode(type)
      out[type] = { title: node.title, width: node.size[0], textWidth: ctx.measureText(node.title).width }
    }
    ctx.restore()
    return out
  })
})

/** The graph as opened, alone (no menus, panels or badges), drawn large enough for the canvas to
 * render its text, then scaled down to a square JPEG: the template browser's thumbnail. */
async function thumbnail(page, name) {
  const side = 1400
  await page.setViewportSize({ width: side, height: side })
  const alone = await page.addStyleTag({ content: 'body * { visibility: hidden } canvas#graph-canvas, .dom-widget, .dom-widget * { visibility: visible }' })
  await page.waitForTimeout(300)
  await page.evaluate(() => {
    const { app } = window.comfyAPI.app
    const canvas = app.canvas
    const titleHeight = window.LiteGraph.NODE_TITLE_HEIGHT
    const xs = app.graph._nodes.flatMap((n) => [n.pos[0], n.pos[0] + n.size[0]])
    const ys = app.graph._nodes.flatMap((n) => [n.pos[1] - titleHeight, n.pos[1] + n.size[1]])
    const [x0, y0, x1, y1] = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
    for (const node of app.graph._nodes) node.badges = []
    canvas.show_info = false
    canvas.ds.fitToBounds([x0, y0, x1 - x0, y1 - y0], { zoom: 0.92 })
    canvas.setDirty(true, true)
  })
  await page.waitForTimeout(800)
  const clip = await page.evaluate(() => {
    const box = window.comfyAPI.app.app.canvas.canvas.getBoundingClientRect()
    const square = Math.min(box.width, box.height)
    return { x: box.left + (box.width - square) / 2, y: box.top + (box.height - square) / 2, width: square, height: square }
  })
  const png = await page.screenshot({ clip })
  const jpeg = await page.evaluate(async ({ data, px }) => {
    const image = new Image()
    image.src = `data:image/png;base64,${data}`
    await image.decode()
    const small = document.createElement('canvas')
    small.width = small.height = px
    const ctx = small.getContext('2d')
    ctx.imageSmoothingQuality = 'high'
    ctx.drawImage(image, 0, 0, px, px)
    return small.toDataURL('image/jpeg', 0.85).split(',')[1]
  }, { data: png.toString('base64'), px: THUMB_PX })
  fs.writeFileSync(path.join(THUMBS_DIR, `${name}.jpg`), Buffer.from(jpeg, 'base64'))
  await alone.evaluate((style) => style.remove())
  await page.evaluate(() => { window.comfyAPI.app.app.canvas.show_info = true })
  await page.setViewportSize({ width: 1500, height: 950 })
}

/** Double-clicks the empty canvas until the node search box has the keyboard (the last one may still be closing). */
async function openSearchBox(page) {
  for (let attempt = 0; ; attempt++) {
    await page.waitForTimeout(400)
    await page.mouse.dblclick(750, 500)
    try {
      await page.waitForFunction(() => document.activeElement?.tagName === 'INPUT', null, { timeout: 3000 })
      return
    } catch (err) {
      if (attempt === 2) throw err
      await page.keyboard.press('Escape')
    }
  }
}
