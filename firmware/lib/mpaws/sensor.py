# A sensor read periodically, and a threshold with hysteresis.
#
# Readers: "adc" (a voltage on an ADC1 pin, scaled), "ds18x20" (1-Wire temperature
# sensor; a conversion takes 750 ms, started on one loop turn and read on a later one, so
# the loop never waits) and "dht22" (temperature). A failed reading raises OSError (the
# drivers' own CRC and checksum errors included), logged by Sensor and tried again.
#
# Threshold: a value hovering at the threshold must not send a storm of notifications.
# Crossing it (upwards for "above") raises the alarm once; the alarm clears only when the
# value is back past threshold - hysteresis, and only then can the next crossing alarm.


class Threshold:
    def __init__(self, threshold, hysteresis, above=True, alarm=False):
        self.threshold = threshold
        self.hysteresis = hysteresis
        self.above = above
        self.alarm = alarm

    def update(self, value):
        """Takes a reading; returns True when it raises the alarm (a crossing)."""
        if self.above:
            crossed = value >= self.threshold
            cleared = value < self.threshold - self.hysteresis
        else:
            crossed = value <= self.threshold
            cleared = value > self.threshold + self.hysteresis
        if not self.alarm and crossed:
            self.alarm = True
            return True
        if self.alarm and cleared:
            self.alarm = False
        return False


class AdcReader:
    """Volts on an ADC pin (11 dB attenuation: 0 to about 3.1 V), times scale plus offset."""

    conversion_ms = 0

    def __init__(self, pin, scale, offset):
        import machine

        self.adc = machine.ADC(machine.Pin(pin), atten=machine.ADC.ATTN_11DB)
        self.scale = scale
        self.offset = offset

    def start(self):
        pass

    def read(self):
        return self.adc.read_uv() / 1000000 * self.scale + self.offset


class Ds18x20Reader:
    """The first DS18X20 on a 1-Wire bus, in degrees Celsius."""

    conversion_ms = 750

    def __init__(self, pin):
        import ds18x20
        import machine
        import onewire

        self.pin = pin
        self.error = onewire.OneWireError
        self.sensor = ds18x20.DS18X20(onewire.OneWire(machine.Pin(pin)))
        self.rom = None

    def start(self):
        if self.rom is None:
            try:
                roms = self.sensor.scan()
            except self.error as e:
                raise OSError("1-Wire on GPIO %d: %s" % (self.pin, e))
            if not roms:
                raise OSError("no DS18X20 answers on GPIO %d: check the wiring and the 4.7 kOhm pull-up to 3.3 V"
                              % self.pin)
            self.rom = roms[0]
        try:
            self.sensor.convert_temp()
        except self.error as e:
            self.rom = None  # scan again next time
            raise OSError("1-Wire on GPIO %d: %s" % (self.pin, e))

    def read(self):
        try:
            return self.sensor.read_temp(self.rom)
        except Exception as e:  # OneWireError, or the driver's plain Exception("CRC error")
            self.rom = None
            raise OSError("the DS18X20 on GPIO %d: %s" % (self.pin, e))


class Dht22Reader:
    """A DHT22's temperature in degrees Celsius (it can be read every 2 s at most)."""

    conversion_ms = 0

    def __init__(self, pin):
        import dht
        import machine

        self.pin = pin
        self.sensor = dht.DHT22(machine.Pin(pin))

    def start(self):
        pass

    def read(self):
        try:
            self.sensor.measure()
        except Exception as e:  # OSError (ETIMEDOUT): no answer; the driver's Exception("checksum error")
            raise OSError("the DHT22 on GPIO %d: %s" % (self.pin, e))
        return self.sensor.temperature()


def reader(settings):
    kind = settings.sensor
    if kind == "adc":
        return AdcReader(settings.sensor_pin, settings.sensor_scale, settings.sensor_offset)
    if kind == "ds18x20":
        return Ds18x20Reader(settings.sensor_pin)
    if kind == "dht22":
        return Dht22Reader(settings.sensor_pin)
    raise ValueError("unknown sensor %r" % kind)


class Sensor:
    """Reads every period_ms; poll() returns a notification body when the reading crosses
    the threshold, else None. A failed reading is logged and tried again next period."""

    def __init__(self, settings, clock, note_error, alarm=False):
        self.reader = reader(settings)
        self.threshold = Threshold(settings.sensor_threshold, settings.sensor_hysteresis,
                                   settings.sensor_alert_above, alarm)
        self.settings = settings
        self.clock = clock
        self.note_error = note_error
        self.period_ms = int(settings.sensor_period_s * 1000)
        self.next_at = None  # when the next reading starts (None: at the first poll)
        self.started_at = None  # when the pending conversion started

    def poll(self, now):
        try:
            if self.started_at is None:
                if self.next_at is not None and self.clock.ticks_diff(now, self.next_at) < 0:
                    return None
                self.next_at = self.clock.ticks_add(now, self.period_ms)
                self.reader.start()
                self.started_at = now
            if self.clock.ticks_diff(now, self.started_at) < self.reader.conversion_ms:
                return None
            self.started_at = None
            value = self.reader.read()
        except OSError as e:
            self.started_at = None
            self._failed(e)
            return None
        return self._check(value)

    def read_now(self, sleep_ms):
        """One reading, waiting for the conversion with sleep_ms (deep-sleep mode): a
        notification body or None."""
        try:
            self.reader.start()
            if self.reader.conversion_ms:
                sleep_ms(self.reader.conversion_ms)
            value = self.reader.read()
        except OSError as e:
            self._failed(e)
            return None
        return self._check(value)

    def _failed(self, e):
        self.note_error("sensor %s: reading failed: %s" % (self.settings.sensor, e))

    def _check(self, value):
        if self.threshold.update(value):
            return self.message(value)
        return None

    def message(self, value):
        s = self.settings
        return "%s: %.2f %s, %s the threshold of %s %s" % (s.sensor_subject, value, s.sensor_unit,
                                                        "above" if s.sensor_alert_above else "below",
                                                        s.sensor_threshold, s.sensor_unit)
