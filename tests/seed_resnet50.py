"""The seed notebook's ResNet-50 ("Residual Networks - Step by Step"), transcribed.

Only two changes, both the notebook's evident intent (see /work/shared/reference.md):
`MaxPooling2D` is imported, and `ResNet50` calls `convolutional_block(..., n_f=...)`
where the notebook wrote `filters=` (a keyword the function does not take). The
layout is `ruff format`'s; the code is the notebook's. Tests compare the DSL's
`specs/seed/resnet50.arch` against this, so it must stay a transcription, not a rewrite.
"""

import numpy as np  # noqa: F401  (imported by the notebook)
import tensorflow as tf  # noqa: F401  (imported by the notebook)
from tensorflow.keras.initializers import glorot_uniform, random_uniform
from tensorflow.keras.layers import (
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Flatten,
    Input,
    MaxPooling2D,
    ZeroPadding2D,
)
from tensorflow.keras.models import Model


def identity_block(X, f, n_f, training=True, initializer=random_uniform):
    """
    Implementation of the identity block from figure 4.

    Arguments:
    X -- input tensor of shape (m, n_H_prev, n_W_prev, n_C_prev)
    f -- integer, specifying the shape of the middle CONV's window for the main path
    n_f -- python list of integers, defining the number of filters in the CONV layers of the main path
    training -- True: Behave in training mode
                False: Behave in inference mode
    initializer -- to set up the initial weights of a layer. Equals to random uniform initializer

    Returns:
    X -- output of the identity block, tensor of shape (m, n_H, n_W, n_C)
    """

    n_f1, n_f2, n_f3 = n_f

    ## Main path
    X_shortcut = X

    # Sequence 1
    X = Conv2D(filters=n_f1, kernel_size=1, strides=(1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)
    X = BatchNormalization(axis=3)(X, training=training)
    X = Activation("relu")(X)

    # Sequence 2
    X = Conv2D(filters=n_f2, kernel_size=f, strides=(1, 1), padding="same", kernel_initializer=initializer(seed=0))(X)
    X = BatchNormalization(axis=3)(X, training=training)
    X = Activation("relu")(X)

    # Sequence 3
    X = Conv2D(filters=n_f3, kernel_size=1, strides=(1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)
    X = BatchNormalization(axis=3)(X, training=training)

    # Adding the input X
    X = Add()([X, X_shortcut])
    X = Activation("relu")(X)

    return X


def convolutional_block(X, f, n_f, s=2, training=True, initializer=glorot_uniform):
    """
    Implementation of the convolutional block from figure 4

    Arguments:
    X -- input tensor of shape (m, n_H_prev, n_W_prev, n_C_prev)
    f -- integer, specifying the shape of the middle CONV's window for the main path
    filters -- python list of integers, defining the number of filters in the CONV layers of the main path
    s -- Integer, specifying the stride to be used
    training -- True: Behave in training mode
                False: Behave in inference mode
    initializer -- to set up the initial weights of a layer. Equals to Glorot uniform initializer

    Returns:
    X -- output of the convolutional block, tensor of shape (m, n_H, n_W, n_C)
    """

    n_f1, n_f2, n_f3 = n_f

    ## Main path
    X_shortcut = X

    # Sequence 1
    X = Conv2D(filters=n_f1, kernel_size=1, strides=(s, s), padding="valid", kernel_initializer=initializer(seed=0))(X)
    X = BatchNormalization(axis=3)(X, training=training)
    X = Activation("relu")(X)

    # Sequence 2
    X = Conv2D(filters=n_f2, kernel_size=f, strides=(1, 1), padding="same", kernel_initializer=initializer(seed=0))(X)
    X = BatchNormalization(axis=3)(X, training=training)
    X = Activation("relu")(X)

    ## Sequence 3
    X = Conv2D(filters=n_f3, kernel_size=1, strides=(1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)
    X = BatchNormalization(axis=3)(X, training=training)

    # Shortcut path
    X_shortcut = Conv2D(
        filters=n_f3, kernel_size=1, strides=(s, s), padding="valid", kernel_initializer=initializer(seed=0)
    )(X_shortcut)
    X_shortcut = BatchNormalization(axis=3)(X_shortcut, training=training)

    # Adding the main and shortcut paths output
    X = Add()([X, X_shortcut])
    X = Activation("relu")(X)

    return X


def ResNet50(input_shape, classes):
    """
    Stage-wise implementation of the architecture of the ResNet50.

    Arguments:
    input_shape -- shape of the images of the dataset
    classes -- integer, number of classes

    Returns:
    model -- a Model() instance in Keras
    """

    X_input = Input(input_shape)
    X = ZeroPadding2D((3, 3))(X_input)

    # Stage 1
    X = Conv2D(64, (7, 7), strides=(2, 2), kernel_initializer=glorot_uniform(seed=0))(X)
    X = BatchNormalization(axis=3)(X)
    X = Activation("relu")(X)
    X = MaxPooling2D((3, 3), strides=(2, 2))(X)

    # Stage 2
    X = convolutional_block(X, f=3, n_f=[64, 64, 256], s=1)
    X = identity_block(X, 3, [64, 64, 256])
    X = identity_block(X, 3, [64, 64, 256])

    # Stage 3
    X = convolutional_block(X, f=3, n_f=[128, 128, 512], s=2)
    X = identity_block(X, 3, [128, 128, 512])
    X = identity_block(X, 3, [128, 128, 512])
    X = identity_block(X, 3, [128, 128, 512])

    # Stage 4
    X = convolutional_block(X, f=3, n_f=[256, 256, 1024], s=2)
    X = identity_block(X, 3, [256, 256, 1024])
    X = identity_block(X, 3, [256, 256, 1024])
    X = identity_block(X, 3, [256, 256, 1024])
    X = identity_block(X, 3, [256, 256, 1024])
    X = identity_block(X, 3, [256, 256, 1024])

    # Stage 5
    X = convolutional_block(X, f=3, n_f=[512, 512, 2048], s=2)
    X = identity_block(X, 3, [512, 512, 2048])
    X = identity_block(X, 3, [512, 512, 2048])

    # Pooling layer
    X = AveragePooling2D(pool_size=(2, 2))(X)

    # Output layer
    X = Flatten()(X)
    X = Dense(classes, activation="softmax", kernel_initializer=glorot_uniform(seed=0))(X)

    # Creating the model
    model = Model(inputs=X_input, outputs=X)

    return model
