# Sourced by the scripts that need a Python tool (fuzz-api.sh, example-journey.sh,
# container-check.sh): `python_venv DIR` creates a virtual environment at DIR, installing Debian's
# venv module first when python3 lacks it (a fresh machine has no package lists yet, hence the update).
python_venv() {
  python3 -m venv "$1" 2>/dev/null && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3-venv >/dev/null
  python3 -m venv "$1"
}
