"""Benchmark the media path against ComfyUI's own: the upload encode and the result decode.

    python benchmarks/media.py [--runs 3] [--grain 0.02]

(a) encode: 121 frames of 1280x720 (IMAGE float tensor, fps 24) into an upload-ready
    mp4 — our ``prepare_clip`` vs ComfyUI's ``VideoFromComponents(...).save_to(tmp.mp4)``;
(b) decode: a 10 s 1920x1080 24 fps H.264+AAC clip to an IMAGE tensor + AUDIO — the pack's
    Video to Frames node (``ApikleyVideoFrames``, called on the VIDEO the generating nodes hand
    on) vs ComfyUI's Get Video Components path, ``VideoFromFile(path).get_components()``.

ComfyUI's classes are used when ``COMFYUI_DIR`` points at a checkout importable by this
Python (e.g. ``COMFYUI_DIR=/tmp/comfyui /tmp/comfyvenv/bin/python benchmarks/media.py``);
otherwise a plain-PyAV re-statement of ComfyUI 0.3.64's algorithm stands in, and the
output says so. Each decode runs in a fresh subprocess; its "peak growth" is the process's
peak resident set during the decode (Linux: VmHWM, reset via /proc/self/clear_refs right
before) minus its resident set right before, i.e. the extra memory the decode needed at its
peak (elsewhere the ``ru_maxrss`` delta, which can under-report).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import av  # noqa: E402
import numpy as np  # noqa: E402

from apikley_wan.media import prepare_clip  # noqa: E402
from apikley_wan.media.clips import image_batch, write_clip  # noqa: E402

MIB = 1024 * 1024


# --- ComfyUI's path: the real classes, or a faithful re-statement --------------------------------

def restated_comfyui_save_to(images, frame_rate: Fraction, path: str) -> None:
    """Re-statement of ComfyUI 0.3.64 ``VideoFromComponents.save_to`` (no audio, default x264)."""
    with av.open(path, mode="w", options={"movflags": "use_metadata_tags"}) as output:
        stream = output.add_stream("h264", rate=Fraction(round(frame_rate * 1000), 1000))
        stream.width, stream.height, stream.pix_fmt = images.shape[2], images.shape[1], "yuv420p"
        for frame in images:
            img = (frame * 255).clamp(0, 255).byte().cpu().numpy()
            video_frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            output.mux(stream.encode(video_frame))
        output.mux(stream.encode(None))


def restated_comfyui_get_components(path: str):
    """Re-statement of ComfyUI 0.3.64 ``VideoFromFile.get_components``: list of per-frame
    float tensors, then ``torch.stack``; then a second pass for the audio."""
    import torch

    with av.open(path, mode="r") as container:
        frames = [torch.from_numpy(f.to_ndarray(format="rgb24")) / 255.0 for f in container.decode(video=0)]
        images = torch.stack(frames) if frames else torch.zeros(0, 3, 0, 0)
        audio = None
        container.seek(0)
        for stream in container.streams.audio:
            chunks = [frame.to_ndarray() for packet in container.demux(stream) for frame in packet.decode()]
            if chunks:
                audio = {"waveform": torch.from_numpy(np.concatenate(chunks, axis=1)).unsqueeze(0),
                         "sample_rate": int(stream.sample_rate)}
        return images, audio


def _import_comfyui():
    """ComfyUI's (VideoFromComponents, VideoFromFile, VideoComponents, VideoContainer, VideoCodec),
    from COMFYUI_DIR, or None."""
    root = os.environ.get("COMFYUI_DIR")
    if not root:
        return None
    sys.path.insert(0, root)
    try:
        from comfy_api.input_impl import VideoFromComponents, VideoFromFile
        from comfy_api.util import VideoCodec, VideoComponents, VideoContainer
        return VideoFromComponents, VideoFromFile, VideoComponents, VideoContainer, VideoCodec
    except ImportError:
        pass
    try:
        from comfy_api.latest import InputImpl, Types
    except ImportError as exc:
        print(f"# ComfyUI at {root} is not importable by this Python ({exc})")
        return None
    return (InputImpl.VideoFromComponents, InputImpl.VideoFromFile, Types.VideoComponents,
            Types.VideoContainer, Types.VideoCodec)


def comfyui_baseline():
    """(label, save(images, fps, path), load_images(path)): ComfyUI's own code, or the re-statement."""
    classes = _import_comfyui()
    if classes is None:
        return ("plain-PyAV re-statement of ComfyUI 0.3.64's algorithm (ComfyUI not importable)",
                restated_comfyui_save_to, lambda path: restated_comfyui_get_components(path)[0])
    from_components, from_file, components, container, codec = classes

    def save(images, fps, path):
        from_components(components(images=images, frame_rate=fps)).save_to(
            path, format=container.MP4, codec=codec.H264)

    return (f"ComfyUI {_comfyui_version()} (its own classes)", save,
            lambda path: from_file(path).get_components().images)


def _comfyui_version() -> str:
    try:
        from comfyui_version import __version__
        return __version__
    except ImportError:
        return "(unknown version)"


# --- decode, one per fresh process ----------------------------------------------------------------

def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def _rss_before() -> int:
    """RSS right before the decode. On Linux the kernel's peak mark (VmHWM) is reset here too:
    ``ru_maxrss`` alone would be wrong, as a child inherits its parent's high-water mark at exec."""
    if os.path.exists("/proc/self/clear_refs"):
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_kib("VmRSS") * 1024
    return _maxrss_bytes()


def _peak_rss() -> int:
    return _status_kib("VmHWM") * 1024 if os.path.exists("/proc/self/clear_refs") else _maxrss_bytes()


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def _pack_nodes():
    """The pack's ``nodes`` package, imported as ComfyUI imports it (inside a package named after
    the pack's folder) but without the pack's ``__init__``, which would start ComfyUI's server."""
    pack = types.ModuleType("apikley_wan_pack")
    pack.__path__ = [ROOT]
    sys.modules[pack.__name__] = pack
    return importlib.import_module(f"{pack.__name__}.nodes")


def node_load():
    """load_images(path) through the Video to Frames node, on the VIDEO a generating node returns
    (ComfyUI's ``VideoFromFile`` when importable, else the pack's stand-in)."""
    comfyui_baseline()  # puts COMFYUI_DIR on the path, so the VIDEO is ComfyUI's own
    nodes = _pack_nodes()
    node = nodes.NODE_CLASS_MAPPINGS["ApikleyVideoFrames"]()
    video_from_file = importlib.import_module(f"{nodes.__name__}.host").video_from_file
    return lambda path: getattr(node, node.FUNCTION)(video_from_file(path))[0]


def child_decode(which: str, path: str) -> None:
    """Decode once and print seconds, peak RSS growth and output tensor bytes as JSON."""
    import torch  # noqa: F401  (imported before the baseline so it does not count)

    load = node_load() if which == "ours" else comfyui_baseline()[2]
    before = _rss_before()
    start = time.perf_counter()
    images = load(path)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_growth": _peak_rss() - before,
                      "tensor_bytes": images.numel() * images.element_size(), "frames": images.shape[0]}))


def run_decode(which: str, path: str) -> dict:
    result = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", which, path],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- main -------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--grain", type=float, default=0.02,
                        help="per-frame noise in the synthetic clips (0 = flat gradients; default mild grain)")
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_decode(*args.child)

    import torch

    label, comfy_save, _ = comfyui_baseline()
    print(f"# baseline: {label}")
    print(f"# python {sys.version.split()[0]}, torch {torch.__version__}, av {av.__version__}, "
          f"{os.cpu_count()} cpus, runs={args.runs}, grain={args.grain}")
    with tempfile.TemporaryDirectory(prefix="apikley-media-bench-") as work:
        start = time.perf_counter()
        images = torch.from_numpy(image_batch(121, 1280, 720, grain=args.grain))
        clip = write_clip(os.path.join(work, "decode-1080p.mp4"), seconds=10, width=1920, height=1080,
                          fps=24, options={"crf": "18"}, grain=args.grain)
        print(f"# inputs made in {time.perf_counter() - start:.1f} s: IMAGE {tuple(images.shape)}, "
              f"decode clip {os.path.getsize(clip) / MIB:.1f} MiB")

        ours_enc, theirs_enc, sizes = [], [], []
        for run in range(args.runs):
            start = time.perf_counter()
            prepared = prepare_clip(images, work, fps=24)
            ours_enc.append(time.perf_counter() - start)
            sizes.append(prepared.size_bytes)
            os.unlink(prepared.path)
            out = os.path.join(work, "comfy.mp4")
            start = time.perf_counter()
            comfy_save(images, Fraction(24), out)
            theirs_enc.append(time.perf_counter() - start)
            print(f"encode run {run + 1}: ours {ours_enc[-1]:.2f} s ({sizes[-1] / MIB:.2f} MiB)  "
                  f"comfyui {theirs_enc[-1]:.2f} s ({os.path.getsize(out) / MIB:.2f} MiB)")
            os.unlink(out)
        del images

        ours_dec, theirs_dec = [], []
        for run in range(args.runs):
            ours_dec.append(run_decode("ours", clip))
            theirs_dec.append(run_decode("theirs", clip))
            print(f"decode run {run + 1}: ours {_fmt(ours_dec[-1])}  comfyui {_fmt(theirs_dec[-1])}")

    med = statistics.median
    tensor = ours_dec[0]["tensor_bytes"]
    ours_peak = med(d["peak_growth"] for d in ours_dec) / tensor
    theirs_peak = med(d["peak_growth"] for d in theirs_dec) / tensor
    encode_ratio = med(ours_enc) / med(theirs_enc)
    decode_node_ratio = med(d["seconds"] for d in ours_dec) / med(d["seconds"] for d in theirs_dec)
    print(f"encode median: ours {med(ours_enc):.2f} s, comfyui {med(theirs_enc):.2f} s "
          f"-> {encode_ratio:.2f}x (target <= 0.70); largest upload {max(sizes) / MIB:.2f} MiB (limit 10)")
    print(f"decode median: Video to Frames {med(d['seconds'] for d in ours_dec):.2f} s, comfyui "
          f"get_components {med(d['seconds'] for d in theirs_dec):.2f} s -> {decode_node_ratio:.2f}x "
          f"(target <= 0.35)")
    print(f"decode peak RSS growth / output tensor ({tensor / MIB:.0f} MiB): ours {ours_peak:.2f}, "
          f"comfyui {theirs_peak:.2f} (target <= 1.10)")
    print(f"encode_ratio={encode_ratio:.2f} decode_node_ratio={decode_node_ratio:.2f} "
          f"decode_peak_over_tensor={ours_peak:.2f} max_upload_mb={max(sizes) / MIB:.2f}")


def _fmt(result: dict) -> str:
    return f"{result['seconds']:.2f} s, peak +{result['peak_growth'] / MIB:.0f} MiB"


if __name__ == "__main__":
    main()
