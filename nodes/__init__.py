"""ComfyUI nodes of the pack: thin declarations over the ``apikley_wan`` core.

Node ids are the identity of saved workflows: never rename them (change display names instead).
"""

from .folder import ApikleyLoadVideosFromFolder
from .frames import ApikleyVideoFrames
from .generate import Wan26Submit, Wan26VideoToVideo
from .task import ApikleyTaskFetch, ApikleyTaskFromId, ApikleyTaskPoll

NODE_CLASS_MAPPINGS = {
    "ApikleyWan26V2V": Wan26VideoToVideo,
    "ApikleyWan26V2VSubmit": Wan26Submit,
    "ApikleyTaskPoll": ApikleyTaskPoll,
    "ApikleyTaskFetch": ApikleyTaskFetch,
    "ApikleyTaskFromId": ApikleyTaskFromId,
    "ApikleyVideoFrames": ApikleyVideoFrames,
    "ApikleyLoadVideosFromFolder": ApikleyLoadVideosFromFolder,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "ApikleyWan26V2V": "Wan 2.6 Video-to-Video (apikley)",
    "ApikleyWan26V2VSubmit": "Wan 2.6 V2V Submit (apikley)",
    "ApikleyTaskPoll": "apikley Task Poll",
    "ApikleyTaskFetch": "apikley Task Fetch",
    "ApikleyTaskFromId": "apikley Task From Id",
    "ApikleyVideoFrames": "Video to Frames (fast, low memory)",
    "ApikleyLoadVideosFromFolder": "Load Videos from Folder (apikley)",
}
