// Package augment implements SimCLR's data augmentations and the
// deterministic evaluation preprocessing, following torchvision's documented
// semantics: RandomResizedCrop, RandomHorizontalFlip, ColorJitter applied
// with a probability, RandomGrayscale, GaussianBlur, Solarize, ToTensor and
// Normalize.
//
// All work is done on float32 channel planes in [0,1]; images are read
// straight from their pixel buffers (*image.NRGBA, *image.RGBA, *image.Gray,
// *image.YCbCr have fast paths) and only the rows and columns the resampler
// needs are read. Resizing is separable triangle-filter (bilinear) resampling
// whose support widens when downscaling, which is the antialiased bilinear
// resize of PIL and of torchvision's antialias=True. The colour operations
// clamp to [0,1] after each step as torchvision does for float tensors.
//
// Views are written as CHW float32, normalised per channel as (x-mean)/std.
// Every random decision is drawn from the *rand.Rand passed to Apply in a
// fixed order, so a given seed always yields the same view. Pipeline and Eval
// are immutable after construction and keep their scratch buffers in a
// sync.Pool, so one value may be shared by many goroutines.
//
// Why not disintegration/gift here: gift's filters work on 8-bit images, so
// a chain of jitter ops would be quantised after every step, and its
// contrast, hue and blur formulas differ from torchvision's. SimCLR's
// results depend on those semantics, so the ops are written on float planes;
// gift serves where 8-bit output is the goal (the enlarged cells of `simclr
// preview`).
package augment
