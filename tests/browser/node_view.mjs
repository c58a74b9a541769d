// What the page shows of a node, in screen pixels, in either canvas mode: the classic canvas draws
// nodes (their box is pos/size plus the title bar, through the canvas's offset and scale), Nodes 2.0
// (Vue nodes) renders each as a DOM element whose box is what is drawn (node.size is not).
// installNodeView(page) puts window.__view in the page:
//   nodes2                     true in Nodes 2.0 mode
//   nodeBox(id)                the node's drawn box {left, top, right, bottom} (title bar included)
//   videoBox(id)               the box of the video the node plays (its preview), null if none
//   summaryBox(id)             the box of the pack's status/summary area, null if none
//   costText(id)               the cost badge's text as drawn (Nodes 2.0: the node's DOM; classic: the badge)
//   overlaps(a, b)             whether two boxes overlap (touching edges do not)
//   inside(inner, outer)       whether a box lies within another (1 px of rounding allowed)
export async function installNodeView(page) {
  await page.evaluate(() => {
    const app = () => window.comfyAPI.app.app
    const nodes2 = () => app().extensionManager?.setting?.get?.('Comfy.VueNodes.Enabled') === true
    const boxOf = (element) => {
      const r = element?.getBoundingClientRect()
      return r && r.width > 0 && r.height > 0 ? { left: r.left, top: r.top, right: r.right, bottom: r.bottom } : null
    }
    const element = (id) => [...document.querySelectorAll('.lg-node[data-node-id]')]
      .find((e) => e.dataset.nodeId === String(id) && e.classList.contains('absolute'))
    const node = (id) => app().graph.getNodeById(id)
    const widgetElement = (id, name) => node(id)?.widgets?.find((w) => w.name === name)?.element
    window.__view = {
      get nodes2() { return nodes2() },
      nodeBox(id) {
        if (nodes2()) return boxOf(element(id))
        const n = node(id)
        const canvas = app().canvas
        const box = canvas.canvas.getBoundingClientRect()
        const title = n.constructor.title_mode === window.LiteGraph.NO_TITLE ? 0 : window.LiteGraph.NODE_TITLE_HEIGHT
        const [x, y] = [n.pos[0], n.pos[1] - title]
        const [w, h] = n.flags?.collapsed ? [n._collapsed_width ?? n.size[0], title] : [n.size[0], n.size[1] + title]
        const at = (px, py) => [(px + canvas.ds.offset[0]) * canvas.ds.scale + box.left,
          (py + canvas.ds.offset[1]) * canvas.ds.scale + box.top]
        const [left, top] = at(x, y)
        const [right, bottom] = at(x + w, y + h)
        return { left, top, right, bottom }
      },
      videoBox(id) {
        const holder = nodes2() ? element(id) : widgetElement(id, 'video-preview')
        const video = holder?.tagName === 'VIDEO' ? holder : holder?.querySelector('video')
        return video?.getAttribute('src') || video?.currentSrc ? boxOf(video) : null
      },
      summaryBox(id) {
        return boxOf(widgetElement(id, 'apikley_summary'))
      },
      costText(id) {
        if (nodes2()) {
          const texts = [...(element(id)?.querySelectorAll('*') ?? [])].map((e) => e.textContent.trim())
          return texts.filter((t) => t.startsWith('est.')).at(-1) ?? null // the innermost element that says it
        }
        return node(id).badges.map((b) => (typeof b === 'function' ? b() : b)?.text).find((t) => t?.startsWith('est.')) ?? null
      },
      overlaps(a, b) {
        return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom
      },
      inside(inner, outer) {
        return inner.left >= outer.left - 1 && inner.top >= outer.top - 1 &&
          inner.right <= outer.right + 1 && inner.bottom <= outer.bottom + 1
      }
    }
  })
}
