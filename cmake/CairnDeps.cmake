# Every dependency is a Debian 12 package installed by deploy/bootstrap-deps.sh.
find_package(PkgConfig REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
find_package(RocksDB REQUIRED CONFIG)
find_package(Boost 1.81 REQUIRED CONFIG COMPONENTS json url)
find_package(simdjson REQUIRED CONFIG)
find_package(nlohmann_json REQUIRED CONFIG)
find_package(spdlog REQUIRED CONFIG)
find_package(fmt REQUIRED CONFIG)
find_package(CLI11 REQUIRED CONFIG)
find_package(Protobuf REQUIRED)
find_package(GTest REQUIRED CONFIG)
find_package(benchmark REQUIRED CONFIG)
find_package(Threads REQUIRED)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)   # CEL matches(): RE2 syntax, linear time
find_package(date REQUIRED CONFIG)                    # date::date-tz, time zones from the OS tzdata
find_package(yaml-cpp REQUIRED CONFIG)
