package cuda

//go:generate go run ./gen ../../../kernels kernel_names_gen.go
