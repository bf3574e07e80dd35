#!/usr/bin/env bash
# End to end with a real Label Studio: start `pseudoclick serve` and Label Studio (SQLite, no browser) on
# 127.0.0.1, create a project with the brush + smart keypoint config through label-studio-sdk, import an image
# (Label Studio's local files), connect the backend (with basic auth), ask Label Studio for an interactive
# prediction with one keypoint, decode the brush that comes back and check it covers the object. Both run on
# 127.0.0.1, so Label Studio gets USE_DEFAULT_BANNED_SUBNETS=false (its SSRF guard refuses loopback backends).
#
#   LS_VENV=/tmp/lsvenv scripts/label_studio_e2e.sh
#
# Label Studio lives in its own virtualenv (it pins many packages): python -m venv /tmp/lsvenv &&
# /tmp/lsvenv/bin/pip install label-studio label-studio-sdk "sentry-sdk<3". The project's environment runs the
# backend (pip install -e ".[serve]"). Exit status 0 = the brush came back and matched; 77 = skipped.
set -uo pipefail

LS_VENV=${LS_VENV:-/tmp/lsvenv}
PY=${PYTHON:-python}
LS_PORT=${LS_PORT:-18089}
ML_PORT=${ML_PORT:-19091}
if [[ ! -x "$LS_VENV/bin/label-studio" ]]; then
  echo "skip: no label-studio in $LS_VENV (set LS_VENV)"; exit 77
fi
WORK=$(mktemp -d /tmp/pseudoclick-e2e.XXXXXX)
FILES="$WORK/files"
mkdir -p "$FILES" "$WORK/ls"
TOKEN=$("$PY" -c "import secrets; print(secrets.token_hex(20))")
ML_AUTH="labelstudio:$("$PY" -c "import secrets; print(secrets.token_urlsafe(12))")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# the task image: a red rectangle on black, 200 x 160
"$PY" - "$FILES/rect.png" <<'PYEOF'
import sys, numpy as np, cv2
img = np.zeros((160, 200, 3), np.uint8); img[40:120, 50:150] = (60, 80, 200)  # BGR
cv2.imwrite(sys.argv[1], img)
PYEOF

echo "== starting pseudoclick serve on 127.0.0.1:$ML_PORT"
PSEUDOCLICK_SERVE_AUTH="$ML_AUTH" pseudoclick serve --host 127.0.0.1 --port "$ML_PORT" --image-root "$FILES" \
  > "$WORK/serve.log" 2>&1 &
pids+=($!)

echo "== starting Label Studio on 127.0.0.1:$LS_PORT (data in $WORK/ls)"
LABEL_STUDIO_BASE_DATA_DIR="$WORK/ls" LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \
LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="$FILES" SENTRY_DSN= FRONTEND_SENTRY_DSN= USE_DEFAULT_BANNED_SUBNETS=false \
  "$LS_VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 -p "$LS_PORT" \
  --data-dir "$WORK/ls" --username admin@example.com --password "e2e-$TOKEN" --user-token "$TOKEN" \
  --enable-legacy-api-token > "$WORK/ls.log" 2>&1 &
pids+=($!)

for i in $(seq 1 180); do
  if curl -fsS "http://127.0.0.1:$LS_PORT/health" >/dev/null 2>&1 \
     && curl -fsS -u "$ML_AUTH" "http://127.0.0.1:$ML_PORT/health" >/dev/null 2>&1; then break; fi
  if [[ $i == 180 ]]; then
    echo "FAIL: not up after 360 s"; tail -20 "$WORK/ls.log"; tail -20 "$WORK/serve.log"; exit 1
  fi
  sleep 2
done
echo "== both up"

LS_URL="http://127.0.0.1:$LS_PORT" ML_URL="http://127.0.0.1:$ML_PORT" TOKEN="$TOKEN" ML_AUTH="$ML_AUTH" \
"$LS_VENV/bin/python" - <<'PYEOF'
import json, os, sys
import numpy as np
import requests
from label_studio_sdk import LabelStudio
from label_studio_sdk.converter.brush import decode_rle

LS, TOKEN = os.environ["LS_URL"], os.environ["TOKEN"]
user, password = os.environ["ML_AUTH"].split(":", 1)
CONFIG = """<View>
  <Image name="image" value="$image" zoom="true"/>
  <BrushLabels name="tag" toName="image"><Label value="Box" background="#FF0000"/></BrushLabels>
  <KeyPointLabels name="tag2" toName="image" smart="true"><Label value="Box" smart="true" background="#000000"/></KeyPointLabels>
</View>"""
ls = LabelStudio(base_url=LS, api_key=TOKEN)
project = ls.projects.create(title="pseudoclick e2e", label_config=CONFIG)
ls.projects.import_tasks(id=project.id, request=[{"data": {"image": "/data/local-files/?d=rect.png"}}])
task = next(iter(ls.tasks.list(project=project.id)))
ml = ls.ml.create(project=project.id, url=os.environ["ML_URL"], title="PseudoClick", is_interactive=True,
                  auth_method="BASIC_AUTH", basic_auth_user=user, basic_auth_pass=password)
print(f"project {project.id}, task {task.id}, ML backend {ml.id}: state {ml.state}")
context = {"result": [{"original_width": 200, "original_height": 160, "image_rotation": 0,
                       "value": {"x": 50.25, "y": 50.3125, "width": 0.6, "keypointlabels": ["Box"]},
                       "is_positive": True, "id": "e2e1", "from_name": "tag2", "to_name": "image",
                       "type": "keypointlabels", "origin": "manual"}]}
r = requests.post(f"{LS}/api/ml/{ml.id}/interactive-annotating", json={"task": task.id, "context": context},
                  headers={"Authorization": f"Token {TOKEN}"}, timeout=120)
print("interactive-annotating:", r.status_code)
body = r.json()
data = body.get("data", body)
regions = data.get("result", [])
short = json.loads(json.dumps(body))
for reg in (short.get("data", short).get("result", [])):
    if "rle" in reg.get("value", {}):
        reg["value"]["rle"] = f"<{len(reg['value']['rle'])} bytes>"
print(json.dumps(short, indent=1)[:3000])
brush = [g for g in regions if g.get("type") == "brushlabels"]
kps = [g for g in regions if g.get("type") == "keypointlabels"]
if not brush:
    print("FAIL: no brush came back"); sys.exit(1)
b = brush[0]
mask = decode_rle(b["value"]["rle"]).reshape(b["original_height"], b["original_width"], 4)[:, :, 3] > 0
truth = np.zeros((160, 200), bool); truth[40:120, 50:150] = True
iou = (mask & truth).sum() / max(1, (mask | truth).sum())
print(f"brush decoded by label-studio-sdk: {mask.sum()} pixels, IoU with the rectangle {iou:.3f}; "
      f"pseudo click regions: {len(kps)}")
if kps:
    k = kps[0]
    print(f"pseudo click: x={k['value']['x']:.2f}% y={k['value']['y']:.2f}% positive={k['is_positive']} "
          f"score={k['score']} meta={k['meta']}")
ok = iou > 0.5
if kps:  # the annotator keeps the suggestion and clicks once more: one new step, the kept one a pseudo click
    context["result"] += [kps[0], {**context["result"][0], "id": "e2e2",
                                   "value": {**context["result"][0]["value"], "x": 30.25, "y": 30.3125}}]
    r = requests.post(f"{LS}/api/ml/{ml.id}/interactive-annotating", json={"task": task.id, "context": context},
                      headers={"Authorization": f"Token {TOKEN}"}, timeout=120)
    second = r.json().get("data", {})
    print(f"second request (suggestion kept + one click): HTTP {r.status_code}, cache {second.get('cache')}, "
          f"clicks {second.get('clicks')}")
    ok = ok and second.get("cache") == "hit" and (second.get("clicks") or {}).get("pseudo") == 1
sys.exit(0 if ok else 1)
PYEOF
status=$?
echo "== backend metrics: $(curl -fsS -u "$ML_AUTH" "http://127.0.0.1:$ML_PORT/metrics")"
echo "== label studio -> backend requests (serve log):"
grep -v "^\s*$" "$WORK/serve.log" | tail -5 || true
exit $status
