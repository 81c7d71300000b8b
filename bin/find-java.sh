# Sourced by ./cria and ./mvnw: finds a JDK 25 or newer.
# Order: $JAVA_HOME, then /usr/lib/jvm/*, then the java on PATH.

cria_java_major() {
  # Prints the feature version of the java at $1 (e.g. 25), or nothing.
  "$1" -XshowSettings:properties -version 2>&1 \
    | awk -F'= ' '/java.specification.version/ {print $2; exit}' | cut -d. -f1
}

cria_find_jdk() {
  local candidate
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
    [[ -n "$candidate" && -x "$candidate/bin/java" && -x "$candidate/bin/javac" ]] || continue
    local major
    major="$(cria_java_major "$candidate/bin/java")"
    if [[ -n "$major" && "$major" -ge 25 ]]; then
      echo "$candidate"
      return 0
    fi
  done
  if command -v javac >/dev/null 2>&1; then
    candidate="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
    local major
    major="$(cria_java_major "$candidate/bin/java")"
    if [[ -n "$major" && "$major" -ge 25 ]]; then
      echo "$candidate"
      return 0
    fi
  fi
  {
    echo "cria needs JDK 25 or newer and found none (looked at \$JAVA_HOME, /usr/lib/jvm/*, PATH)."
    echo "Install one, e.g. Temurin 25 (https://adoptium.net) or 'apt-get install openjdk-25-jdk',"
    echo "then set JAVA_HOME to it."
  } >&2
  return 1
}
