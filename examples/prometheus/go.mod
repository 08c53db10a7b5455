module github.com/securepg/securepg/examples/prometheus

go 1.26.0

require github.com/securepg/securepg v0.0.0

replace github.com/securepg/securepg => ../../
