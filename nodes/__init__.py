"""ComfyUI nodes of the pack: thin declarations over the ``apikley_wan`` core.

Node ids are the identity of saved workflows: never rename them (change display names instead).
"""

from .folder import ApikleyLoadVideosFromFolder
from .frames import ApikleyVideoFrames
from .generate import Wan26Submit, Wan26VideoToVideo
from .task import ApikleyTaskFetch, ApikleyTaskFromFile, ApikleyTaskFromId, ApikleyTaskPoll

NODE_CLASS_MAPPINGS = {
    "ApikleyWan26V2V": Wan26VideoToVideo,
    "ApikleyWan26V2VSubmit": Wan26Submit,
    "ApikleyTaskPoll": ApikleyTaskPoll,
    "ApikleyTaskFetch": ApikleyTaskFetch,
    "ApikleyTaskFromId": ApikleyTaskFromId,
    "ApikleyTaskFromFile": ApikleyTaskFromFile,
    "ApikleyVideoFrames": ApikleyVideoFrames,
    "ApikleyLoadVideosFromFolder": ApikleyLoadVideosFromFolder,
}

# Chosen for the node search box (it ranks a name that starts with the query first, then the shorter,
# then the more often used): the all-in-one is the one that starts with "Wan 2.6", Submit does not,
# and only the generating nodes carry "(apikley)", so "Wan 2.6", "v2v", "video to video" and "apikley"
# find the all-in-one first. Poll and Fetch are short enough not to be cut off at their default width.
NODE_DISPLAY_NAME_MAPPINGS = {
    "ApikleyWan26V2V": "Wan 2.6 Video to Video (apikley)",
    "ApikleyWan26V2VSubmit": "Submit Wan 2.6 Task (apikley)",
    "ApikleyTaskPoll": "Task Poll",
    "ApikleyTaskFetch": "Task Fetch",
    "ApikleyTaskFromId": "Task From Id",
    "ApikleyTaskFromFile": "Task From File",
    "ApikleyVideoFrames": "Video to Frames (fast, low memory)",
    "ApikleyLoadVideosFromFolder": "Load Videos from Folder (apikley)",
}
