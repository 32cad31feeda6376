"""The ten Fashion-MNIST classes, indexed by label (Zalando's order)."""

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SIDE = 28
NUM_FEATURES = IMAGE_SIDE * IMAGE_SIDE
