# How the YouTube-VIS 2019 configs track (tools/test_vis.py, tools/run_video.py): MaskTrack R-CNN's online
# association on the track head's embeddings (vis/tracking/tracker.py), as mmdet 3 configures it.
tracker = dict(
    type='OnlineTracker',
    # S = log softmax(embedding similarity) + 1.0 log(det score) + 2.0 box IoU + 10.0 [same class]
    match_weights=dict(det_score=1.0, iou=2.0, det_label=10.0),
    score_thr=0.05,         # the detector's output threshold
    init_score_thr=0.1,     # an unmatched detection starts a track at or above this
    nms_iou_thr=0.5,        # per-class box NMS before association
    max_per_frame=10,       # highest-scoring detections kept per frame (YouTube-VIS has at most 10 objects)
    num_frames_retain=20,   # a track unseen for this many frames is removed
)
