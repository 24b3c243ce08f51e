"""Step time and memory as the images grow, on keras.applications teachers
(`image_sizes.py`)."""
