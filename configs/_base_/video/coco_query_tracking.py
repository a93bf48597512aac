# How a COCO image model tracks videos (tools/run_video.py, tools/test_vis.py, tools/benchmark_video.py):
# labels are named by the 80 COCO classes, and detections are linked across frames by the segmenter's own query
# embeddings (vis/tracking/query_tracker.py, MinVIS-style; no track head, no video training). The values below
# are QueryTracker's documented defaults, written out so they can be tuned with --cfg-options tracker.KEY=VALUE.
class_names = 'coco'
tracker = dict(
    type='QueryTracker',
    # S = cos(query embeddings) + IoU(last appearance) + 0.5 [same class]
    match_weights=dict(embed=1.0, iou=1.0, det_label=0.5),
    match_thr=1.0,          # a detection continues a track only if S exceeds this
    iou_type='mask',        # IoU of the masks (at 1/4 resolution), or 'box'
    score_thr=0.05,         # detections below are ignored
    init_score_thr=0.1,     # an unmatched detection starts a track at or above this
    max_per_frame=10,       # highest-scoring detections kept per frame
    nms_iou_thr=0.5,        # per-class box NMS before association (set predictors emit duplicates)
    num_frames_retain=20,   # a track unseen for this many frames is removed; shorter occlusions keep their id
    memory='momentum',      # track embedding: m <- (1 - momentum) m + momentum e on every match
    momentum=0.5,
)
